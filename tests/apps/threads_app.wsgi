"""Requests that wait, for groups with threads (tests/threads_test.ts)."""

import json
import os
import queue
import threading
import time

import flask
from flask import g, request

lock = threading.Lock()
condition = threading.Condition()
semaphore = threading.Semaphore(2)
jobs = queue.Queue()
local = threading.local()
inside = {"now": 0, "most": 0}
engines = {}


def _engine(pool):
    """SQLAlchemy's QueuePool: default size (5 + 10), or 2 connections only."""
    if pool not in engines:
        import sqlalchemy

        url = os.environ["DATABASE_URL"].replace(
            "postgresql://", "postgresql+pg8000://", 1
        )
        sizes = {"pool_size": 2, "max_overflow": 0} if pool == "small" else {}
        engines[pool] = sqlalchemy.create_engine(url, **sizes)
    return engines[pool]


app = flask.Flask(__name__)


@app.route("/sleep")
def sleep():
    local.name = request.args["name"]
    started = time.time()
    time.sleep(float(request.args.get("seconds", "0.3")))
    return {
        "name": local.name,
        "ident": threading.get_ident(),
        "thread": threading.current_thread().name,
        "waited": time.time() - started,
        "multithread": request.environ["wsgi.multithread"],
    }


@app.route("/flask")
def flask_state():
    # Two of these interleave: each must see only its own request and g.
    g.name = request.args["name"]
    time.sleep(0.2)
    seen = [request.args["name"], g.name]
    time.sleep(0.1)
    seen += [request.args["name"], g.name]
    return {"seen": seen}


@app.route("/lock")
def locked():
    with lock:
        inside["now"] += 1
        inside["most"] = max(inside["most"], inside["now"])
        time.sleep(0.1)
        inside["now"] -= 1
    return {"most": inside["most"]}


@app.route("/semaphore")
def semaphored():
    with semaphore:
        inside["now"] += 1
        inside["most"] = max(inside["most"], inside["now"])
        time.sleep(0.1)
        inside["now"] -= 1
    return {"most": inside["most"]}


@app.route("/reset")
def reset():
    inside.update(now=0, most=0)
    return {}


@app.route("/queue/get")
def queue_get():
    try:
        return {"item": jobs.get(timeout=float(request.args["timeout"]))}
    except queue.Empty:
        return {"item": None}


@app.route("/queue/put")
def queue_put():
    jobs.put(request.args["item"])
    return {}


@app.route("/condition/wait")
def condition_wait():
    with condition:
        notified = condition.wait(timeout=float(request.args["timeout"]))
    return {"notified": notified}


@app.route("/condition/notify")
def condition_notify():
    with condition:
        condition.notify_all()
    return {}


@app.route("/pg_sleep")
def pg_sleep():
    import sqlalchemy

    with _engine(request.args.get("pool", "default")).connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_sleep(0.3)"))
        pid = connection.execute(sqlalchemy.text("SELECT pg_backend_pid()"))
        return {"pid": pid.scalar()}


@app.route("/spin")
def spin():
    # CPU-bound: no other request runs meanwhile.
    end = time.time() + float(request.args["seconds"])
    while time.time() < end:
        pass
    return {"spun": True}


application = app


def streaming(environ, start_response):
    """A generator body that waits between chunks, with threading.local."""
    local.name = environ["QUERY_STRING"]
    start_response("200 OK", [("Content-Type", "text/plain")])

    def chunks():
        for index in range(3):
            time.sleep(0.1)
            yield ("%s:%d:%s\n" % (local.name, index, _request_name())).encode()

    return chunks()


def _request_name():
    return threading.current_thread().name


def dumps(value):
    return json.dumps(value)
