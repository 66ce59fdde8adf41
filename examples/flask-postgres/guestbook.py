"""A Flask 3 + SQLAlchemy 2 guestbook on PostgreSQL: list, add and delete
entries, as HTML pages and as a JSON API, in one table created at start-up.

The database comes from the ``DATABASE_URL`` environment variable, e.g.
``postgresql+pg8000://guestbook:secret@127.0.0.1:5432/guestbook``.  A plain
``postgresql://`` (or Heroku-style ``postgres://``) URL is switched to the
pg8000 driver: SQLAlchemy's default PostgreSQL driver, psycopg2, is a C
extension compiled for the host against libpq, and a host-compiled extension
cannot load in WebAssembly (Pyodide), where this app runs inside deno-wsgi.
pg8000 is pure Python and talks PostgreSQL's protocol over an ordinary
socket, so the same app and the same driver run under the gateway, Apache's
mod_wsgi and gunicorn.

Nothing here knows about the gateway; ``app.wsgi`` serves it everywhere.
When ``DATABASE_URL`` is missing or the database cannot be reached, the app
still loads: it logs one line saying what to do, and answers every request
with a 500 page (or JSON under ``/api/``) that says the same, until the
database is back.
"""

from __future__ import annotations

import os
import ssl
import sys
from datetime import datetime

from flask import Flask, jsonify, redirect, render_template, request, url_for
from sqlalchemy import (
    DateTime,
    String,
    Text,
    create_engine,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

MAX_AUTHOR = 80
MAX_MESSAGE = 2000
# Any 64-bit number: serialises CREATE TABLE between workers that start at
# the same moment (CREATE TABLE IF NOT EXISTS alone can race in PostgreSQL).
SCHEMA_LOCK = 0x6775657374626F6F  # "guestboo"
EXAMPLE_URL = "postgresql://USER:PASSWORD@127.0.0.1:5432/DBNAME"


class Base(DeclarativeBase):
    pass


class Entry(Base):
    __tablename__ = "guestbook_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    author: Mapped[str] = mapped_column(String(MAX_AUTHOR))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "author": self.author,
            "message": self.message,
            "created_at": self.created_at.isoformat(),
        }


ENTRIES = Entry.__table__


class DatabaseNotConfigured(Exception):
    """DATABASE_URL is missing or is not a URL SQLAlchemy understands."""


def log(message: str) -> None:
    """One line on stderr: mod_wsgi's error log, gunicorn's, the gateway's."""
    print(f"guestbook: {message}", file=sys.stderr, flush=True)


def database_url(raw: str | None):
    """The SQLAlchemy URL of ``raw`` with pg8000 as the PostgreSQL driver,
    and pg8000's connect arguments (libpq's ``sslmode`` becomes an SSL
    context: pg8000 takes no ``sslmode``)."""
    if not raw or not raw.strip():
        raise DatabaseNotConfigured(
            "DATABASE_URL is not set; set it to the PostgreSQL database to "
            f"use, e.g. DATABASE_URL={EXAMPLE_URL}"
        )
    try:
        url = make_url(raw.strip())
    except ArgumentError as error:
        raise DatabaseNotConfigured(
            f"DATABASE_URL is not a database URL ({error}); "
            f"it should look like {EXAMPLE_URL}"
        ) from None
    connect_args: dict = {"timeout": 10}
    if url.drivername in ("postgres", "postgresql"):
        # psycopg2, the default, is host-compiled C: it cannot load in
        # WebAssembly. pg8000 is pure Python.
        url = url.set(drivername="postgresql+pg8000")
    if url.drivername == "postgresql+pg8000" and "sslmode" in url.query:
        mode = url.query["sslmode"]
        url = url.difference_update_query(["sslmode"])
        if mode in ("require", "verify-ca", "verify-full"):
            context = ssl.create_default_context()
            if mode != "verify-full":
                context.check_hostname = False
            if mode == "require":
                context.verify_mode = ssl.CERT_NONE
            connect_args["ssl_context"] = context
    return url, connect_args


def make_engine(raw: str | None) -> Engine:
    url, connect_args = database_url(raw)
    # pool_pre_ping: a connection that PostgreSQL dropped (a restart) is
    # replaced instead of failing the next request.
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Creates the table if it is missing, one worker at a time."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK}
            )
        Base.metadata.create_all(connection)


def create_app(database=None) -> Flask:
    """Build the app on ``database`` (a URL; default $DATABASE_URL)."""
    app = Flask(__name__)
    app.json.sort_keys = False
    raw = database if database is not None else os.environ.get("DATABASE_URL")
    state = {"engine": None, "problem": None, "schema": False, "down": False}
    try:
        state["engine"] = make_engine(raw)
    except DatabaseNotConfigured as error:
        state["problem"] = str(error)
        log(state["problem"])

    def unreachable(error: Exception) -> str:
        where = state["engine"].url.render_as_string(hide_password=True)
        reason = str(getattr(error, "orig", None) or error).splitlines()[0].rstrip(".")
        return (
            f"cannot reach the database {where}: {reason}; check that "
            "PostgreSQL is running there and that DATABASE_URL names the "
            "right host, port, user, password and database"
        )

    def database_down(error: Exception):
        message = unreachable(error)
        if not state["down"]:  # one log line per outage, not per request
            state["down"] = True
            log(message)
        return problem_page(message)

    def problem_page(message: str):
        if request.path.startswith("/api/"):
            return jsonify(error=message), 500
        return render_template("problem.html", message=message), 500

    def ensure_schema() -> None:
        if not state["schema"]:
            create_schema(state["engine"])
            state["schema"] = True

    if state["engine"] is not None:
        try:
            ensure_schema()
            log(
                "using "
                + state["engine"].url.render_as_string(hide_password=True)
            )
        except DBAPIError as error:
            # Loaded all the same: each request tries again.
            state["down"] = True
            log(unreachable(error) + " (will retry on each request)")

    @app.before_request
    def check_database():
        if request.endpoint == "static":
            return None
        if state["problem"]:
            return problem_page(state["problem"])
        try:
            ensure_schema()
        except DBAPIError as error:
            return database_down(error)
        return None

    @app.errorhandler(DBAPIError)
    def on_database_error(error):
        return database_down(error)

    @app.after_request
    def note_recovery(response):
        if state["down"] and response.status_code < 500:
            state["down"] = False
            log("the database answers again")
        return response

    def session() -> Session:
        return Session(state["engine"])

    def newest(limit: int = 100) -> list[Entry]:
        with session() as db:
            query = select(Entry).order_by(Entry.id.desc()).limit(limit)
            return list(db.scalars(query))

    def validate(author: str, message: str) -> str | None:
        if not author or not message:
            return "Both a name and a message, please."
        if len(author) > MAX_AUTHOR:
            return f"A name has at most {MAX_AUTHOR} characters."
        if len(message) > MAX_MESSAGE:
            return f"A message has at most {MAX_MESSAGE} characters."
        return None

    def add(author: str, message: str) -> Entry:
        with session() as db, db.begin():
            entry = Entry(author=author, message=message)
            db.add(entry)
            db.flush()
            db.refresh(entry)
            db.expunge(entry)
        return entry

    @app.get("/")
    def index():
        return render_template("index.html", entries=newest(), error=None)

    @app.post("/")
    def add_entry():
        author = request.form.get("author", "").strip()
        message = request.form.get("message", "").strip()
        error = validate(author, message)
        if error:
            return (
                render_template(
                    "index.html",
                    entries=newest(),
                    error=error,
                    author=author,
                    message=message,
                ),
                400,
            )
        add(author, message)
        return redirect(url_for("index"), 303)

    @app.post("/entries/<int:entry_id>/delete")
    def delete_entry(entry_id: int):
        with session() as db, db.begin():
            db.execute(delete(Entry).where(Entry.id == entry_id))
        return redirect(url_for("index"), 303)

    @app.get("/api/entries")
    def api_list():
        entries = [entry.as_json() for entry in newest()]
        return jsonify(count=len(entries), entries=entries)

    @app.post("/api/entries")
    def api_add():
        body = request.get_json(silent=True) or {}
        author = str(body.get("author", "")).strip()
        message = str(body.get("message", "")).strip()
        error = validate(author, message)
        if error:
            return jsonify(error=error), 400
        entry = add(author, message)
        location = url_for("api_get", entry_id=entry.id)
        return jsonify(entry.as_json()), 201, {"Location": location}

    @app.get("/api/entries/<int:entry_id>")
    def api_get(entry_id: int):
        # SQLAlchemy Core: one row by primary key, no ORM objects.
        with state["engine"].connect() as connection:
            row = connection.execute(
                select(ENTRIES).where(ENTRIES.c.id == entry_id)
            ).one_or_none()
        if row is None:
            return jsonify(error=f"no entry {entry_id}"), 404
        entry = dict(row._mapping)
        entry["created_at"] = entry["created_at"].isoformat()
        return jsonify(entry)

    @app.delete("/api/entries/<int:entry_id>")
    def api_delete(entry_id: int):
        with session() as db, db.begin():
            gone = db.execute(delete(Entry).where(Entry.id == entry_id))
        if gone.rowcount == 0:
            return jsonify(error=f"no entry {entry_id}"), 404
        return "", 204

    @app.get("/api/health")
    def health():
        with state["engine"].connect() as connection:
            version = connection.execute(text("SELECT version()")).scalar_one()
        return jsonify(database="ok", server=version.split(" on ")[0])

    return app
