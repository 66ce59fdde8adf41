"""Benchmark app: Flask reading PostgreSQL through SQLAlchemy Core and pg8000.

The same file for CPython (Apache + mod_wsgi, gunicorn) and Pyodide (the
gateway), with the same pure-Python driver, pg8000, on every server.

- ``GET /`` answers "ok" without touching the database (the ready path);
- ``GET /row/<id>`` reads one row of ``bench_rows`` by primary key (SQLAlchemy
  Core, one pooled connection) and answers it as JSON: bench/run.ts's
  ``flask-db`` scenario;
- ``GET /sleep?seconds=S`` runs ``SELECT pg_sleep(S)``: the ``flask-db-sleep``
  scenario.

Settings from the environment: ``DATABASE_URL`` (``postgresql://...`` is
switched to pg8000) and ``BENCH_DB_POOL``, the connections each process may
hold (SQLAlchemy's pool_size; no overflow; default 10). The table and its
``ROWS`` rows are created on start-up, one process at a time.
"""

import os

from flask import Flask, abort, jsonify, request
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url

ROWS = 1000
LOCK = 0x62656E6368  # "bench": one process creates the table at a time

metadata = MetaData()
rows = Table(
    "bench_rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("price", Float, nullable=False),
    Column("note", String(200), nullable=False),
)


def make_engine():
    raw = os.environ.get("DATABASE_URL")
    if not raw:
        raise RuntimeError("DATABASE_URL is not set")
    url = make_url(raw)
    if url.drivername in ("postgres", "postgresql"):
        # psycopg2 (the default) is host-compiled: pg8000 runs everywhere.
        url = url.set(drivername="postgresql+pg8000")
    pool = int(os.environ.get("BENCH_DB_POOL", "10"))
    return create_engine(
        url,
        pool_size=pool,
        max_overflow=0,
        pool_timeout=30,
        connect_args={"timeout": 30},
    )


def seed(engine):
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK})
        metadata.create_all(connection)
        count = connection.execute(select(func.count()).select_from(rows))
        if count.scalar_one() < ROWS:
            connection.execute(rows.delete())
            connection.execute(
                insert(rows),
                [
                    {
                        "id": i,
                        "name": f"item {i}",
                        "price": i * 1.25,
                        "note": f"row {i} of {ROWS}, caf\u00e9 \u2713",
                    }
                    for i in range(1, ROWS + 1)
                ],
            )


def create_app():
    app = Flask(__name__)
    engine = make_engine()
    seeded = []

    def ready():
        if not seeded:
            seed(engine)
            seeded.append(True)

    try:
        ready()
    except Exception as error:  # noqa: BLE001 - retried on the first query
        print(f"flask_db: cannot seed the database yet: {error}", flush=True)

    @app.get("/")
    def index():
        return "ok"

    @app.get("/row/<int:row_id>")
    def row(row_id):
        ready()
        with engine.connect() as connection:
            found = connection.execute(
                select(rows).where(rows.c.id == row_id)
            ).one_or_none()
        if found is None:
            abort(404)
        return jsonify(dict(found._mapping))

    @app.get("/sleep")
    def sleep():
        seconds = float(request.args.get("seconds", "0.3"))
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return jsonify(slept=seconds)

    return app


application = create_app()
