"""Real database clients over real sockets, for tests/databases_test.ts.

The servers' URLs come through the WSGI environ (the mount's `environ`,
mod_wsgi's SetEnv): NET_PG_URL (postgresql://...), NET_MYSQL_URL
(mysql://...) and NET_REDIS_URL (redis://...). Every route answers JSON;
an exception becomes a 500 whose JSON names its type, so a test failure
says what Python saw.

Routes (the first segment picks the client):
  /pg8000/roundtrip          POST text: insert into pg8000_notes, read back
                             (?password=P logs in with P instead)
  /pg8000/held               pg_backend_pid() of a connection kept open by
                             this interpreter
  /pymysql/roundtrip         POST text: the same with PyMySQL
  /sa/<pg|my>/setup          create the ORM tables (idempotent)
  /sa/<pg|my>/notes          POST text: add a Note; GET: list them
  /sa/<pg|my>/fail           POST text: add a Note, then violate a unique
                             constraint: the transaction is rolled back
  /sa/<pg|my>/backend        this worker's pooled connection's server-side id
                             (?sleep=S pauses first)
  /redis/roundtrip           POST text: SET/GET, a pipeline, pub/sub
"""

import json
import os
import random
import time
import traceback
from urllib.parse import parse_qs, unquote, urlsplit

# Identifies this interpreter: requests that report the same IDENTITY ran
# in the same worker.
IDENTITY = "%08x" % random.getrandbits(32)

_engines = {}


def _respond(start_response, payload, status="200 OK"):
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(data))),
        ],
    )
    return [data]


def _body_text(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length).decode("utf-8")


def _url(environ, name):
    url = environ.get(name) or os.environ.get(name)
    if not url:
        raise LookupError("%s is not set (mount environ or group env)" % name)
    return url


def _parts(url):
    parts = urlsplit(url)
    return {
        "host": parts.hostname,
        "port": parts.port,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/"),
    }


# ------------------------------------------------------------------ pg8000


def pg8000_roundtrip(environ):
    import pg8000.native

    text = _body_text(environ)
    p = _parts(_url(environ, "NET_PG_URL"))
    # ?password= replaces the right one, to see how a refusal looks.
    query = parse_qs(environ["QUERY_STRING"])
    p["password"] = query.get("password", [p["password"]])[0]
    connection = pg8000.native.Connection(
        p["user"],
        password=p["password"],
        host=p["host"],
        port=p["port"],
        database=p["database"],
        timeout=10,
    )
    try:
        connection.run(
            "CREATE TABLE IF NOT EXISTS pg8000_notes "
            "(id serial PRIMARY KEY, text text NOT NULL)"
        )
        [[note_id]] = connection.run(
            "INSERT INTO pg8000_notes (text) VALUES (:text) RETURNING id", text=text
        )
        [[stored, length, pid]] = connection.run(
            "SELECT text, char_length(text), pg_backend_pid() "
            "FROM pg8000_notes WHERE id = :id",
            id=note_id,
        )
        [[server_encoding]] = connection.run("SHOW server_encoding")
    finally:
        connection.close()
    return {
        "id": note_id,
        "text": stored,
        "length": length,
        "pid": pid,
        "server_encoding": server_encoding,
    }


_held = {}


def pg8000_held(environ):
    """A connection opened once per interpreter and kept open between
    requests: its session must end when the worker is recycled."""
    import pg8000.native

    if "connection" not in _held:
        p = _parts(_url(environ, "NET_PG_URL"))
        _held["connection"] = pg8000.native.Connection(
            p["user"],
            password=p["password"],
            host=p["host"],
            port=p["port"],
            database=p["database"],
            timeout=10,
        )
    [[pid]] = _held["connection"].run("SELECT pg_backend_pid()")
    return {"pid": pid}


# ----------------------------------------------------------------- PyMySQL


def pymysql_roundtrip(environ):
    import pymysql

    text = _body_text(environ)
    p = _parts(_url(environ, "NET_MYSQL_URL"))
    connection = pymysql.connect(
        host=p["host"],
        port=p["port"],
        user=p["user"],
        password=p["password"],
        database=p["database"],
        charset="utf8mb4",
        connect_timeout=10,
        read_timeout=10,
        autocommit=False,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS pymysql_notes "
                "(id INT AUTO_INCREMENT PRIMARY KEY, text TEXT NOT NULL) "
                "CHARACTER SET utf8mb4"
            )
            cursor.execute("INSERT INTO pymysql_notes (text) VALUES (%s)", (text,))
            note_id = cursor.lastrowid
            connection.commit()
            cursor.execute(
                "SELECT text, CHAR_LENGTH(text), CONNECTION_ID() "
                "FROM pymysql_notes WHERE id = %s",
                (note_id,),
            )
            stored, length, connection_id = cursor.fetchone()
    finally:
        connection.close()
    return {"id": note_id, "text": stored, "length": length, "pid": connection_id}


# -------------------------------------------------------------- SQLAlchemy


def _models():
    """The ORM classes, built once per interpreter on first use."""
    global Base, Note
    if "Note" in globals():
        return Base, Note
    from sqlalchemy import String, Text
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    class Base(DeclarativeBase):
        pass

    class Note(Base):
        __tablename__ = "orm_notes"
        id: Mapped[int] = mapped_column(primary_key=True)
        # Unique, so that /fail can make the database refuse a row.
        slug: Mapped[str] = mapped_column(String(64), unique=True)
        text: Mapped[str] = mapped_column(Text)

    return Base, Note


def _engine(environ, backend):
    """One engine (and so one connection pool) per backend per interpreter."""
    from sqlalchemy import create_engine

    if backend not in _engines:
        if backend == "pg":
            url = _url(environ, "NET_PG_URL").replace(
                "postgresql://", "postgresql+pg8000://", 1
            )
        elif backend == "my":
            url = (
                _url(environ, "NET_MYSQL_URL").replace(
                    "mysql://", "mysql+pymysql://", 1
                )
                + "?charset=utf8mb4"
            )
        else:
            raise LookupError("unknown backend %r (pg or my)" % backend)
        _engines[backend] = create_engine(url, pool_size=2, pool_pre_ping=False)
    return _engines[backend]


def _slug():
    return "%s-%d-%06d" % (IDENTITY, time.time_ns(), random.randrange(10**6))


def sa_route(environ, backend, action):
    from sqlalchemy import func, select, text
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    Base, Note = _models()
    engine = _engine(environ, backend)
    if action == "setup":
        Base.metadata.create_all(engine)
        return {"tables": sorted(Base.metadata.tables)}
    if action == "notes" and environ["REQUEST_METHOD"] == "POST":
        with Session(engine) as session, session.begin():
            note = Note(slug=_slug(), text=_body_text(environ))
            session.add(note)
            session.flush()
            created = {"id": note.id, "slug": note.slug}
        return created
    if action == "notes":
        with Session(engine) as session:
            notes = session.scalars(select(Note).order_by(Note.id)).all()
            return {"notes": [{"id": n.id, "slug": n.slug, "text": n.text} for n in notes]}
    if action == "fail":
        text_value = _body_text(environ)
        with Session(engine) as session:
            before = session.scalar(select(func.count()).select_from(Note))
            session.add(Note(slug=_slug(), text=text_value))
            session.flush()  # the first row is in the transaction...
            existing = session.scalar(select(Note.slug).limit(1))
            session.add(Note(slug=existing, text="duplicate"))
            try:
                session.commit()  # ...until the duplicate slug fails it
                raise AssertionError("the duplicate slug was accepted")
            except IntegrityError as error:
                session.rollback()
                failure = type(error.orig).__name__
            after = session.scalar(select(func.count()).select_from(Note))
            kept = session.scalar(
                select(func.count()).select_from(Note).where(Note.text == text_value)
            )
        return {"error": failure, "before": before, "after": after, "kept": kept}
    if action == "backend":
        # A pause keeps this worker busy, so concurrent requests spread.
        pause = parse_qs(environ["QUERY_STRING"]).get("sleep", ["0"])[0]
        time.sleep(float(pause))
        query = "SELECT pg_backend_pid()" if backend == "pg" else "SELECT CONNECTION_ID()"
        with engine.connect() as connection:
            pid = connection.execute(text(query)).scalar()
        pool = engine.pool
        return {"pid": pid, "identity": IDENTITY, "pool": pool.status()}
    raise LookupError("no SQLAlchemy action %r" % action)


# ------------------------------------------------------------------- Redis


def redis_roundtrip(environ):
    import redis

    text = _body_text(environ)
    client = redis.Redis.from_url(
        _url(environ, "NET_REDIS_URL"), socket_timeout=10, decode_responses=True
    )
    try:
        key = "net:" + _slug()
        client.set(key, text, ex=60)
        stored = client.get(key)
        with client.pipeline(transaction=True) as pipe:
            pipe.incr(key + ":n").incr(key + ":n").incrby(key + ":n", 40)
            pipe.get(key + ":n").expire(key + ":n", 60)
            pipeline = pipe.execute()
        pubsub = client.pubsub()
        channel = key + ":channel"
        pubsub.subscribe(channel)
        # Wait for the subscription to be confirmed, so publish counts it.
        confirmation = pubsub.get_message(timeout=5)
        receivers = client.publish(channel, text)
        message = None
        deadline = time.monotonic() + 5
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
        pubsub.close()
        return {
            "text": stored,
            "pipeline": pipeline,
            "subscribed": confirmation and confirmation["type"],
            "receivers": receivers,
            "message": message and message["data"],
        }
    finally:
        client.close()


# ------------------------------------------------------------------ routes


def application(environ, start_response):
    parts = environ["PATH_INFO"].strip("/").split("/")
    try:
        if parts == ["pg8000", "roundtrip"]:
            result = pg8000_roundtrip(environ)
        elif parts == ["pg8000", "held"]:
            result = pg8000_held(environ)
        elif parts == ["pymysql", "roundtrip"]:
            result = pymysql_roundtrip(environ)
        elif len(parts) == 3 and parts[0] == "sa":
            result = sa_route(environ, parts[1], parts[2])
        elif parts == ["redis", "roundtrip"]:
            result = redis_roundtrip(environ)
        elif parts == ["identity"]:
            result = {"identity": IDENTITY}
        else:
            return _respond(start_response, {"error": "no route"}, "404 Not Found")
    except Exception as error:
        environ["wsgi.errors"].write(traceback.format_exc())
        return _respond(
            start_response,
            {
                "error": type(error).__name__,
                "module": type(error).__module__,
                "message": str(error),
            },
            "500 Internal Server Error",
        )
    result.setdefault("identity", IDENTITY)
    return _respond(start_response, result)
