"""Writes through the gateway: the app's folder, a writable data folder,
/tmp, and anywhere else; SQLite in the data folder from several workers.

The data folder comes as the DATA variable of the environ (SetEnv).
"""

import json
import os
import sqlite3
from urllib.parse import parse_qs

HERE = os.path.dirname(__file__)


def _attempt(action):
    try:
        return {"ok": True, "value": action()}
    except OSError as error:
        return {
            "ok": False,
            "type": type(error).__name__,
            "errno": error.errno,
            "message": str(error),
        }


def _write(path, text):
    with open(path, "a") as file:
        file.write(text)
    with open(path) as file:
        return file.read()


def _insert(data, worker, count):
    database = sqlite3.connect(os.path.join(data, "rows.db"), timeout=30)
    database.execute(
        "CREATE TABLE IF NOT EXISTS rows (worker TEXT, n INTEGER)"
    )
    database.commit()
    for n in range(count):
        database.execute("INSERT INTO rows VALUES (?, ?)", (worker, n))
        database.commit()
    total = database.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    database.close()
    return total


def application(environ, start_response):
    data = environ["DATA"]
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    action = environ["PATH_INFO"].strip("/")
    if action == "write":
        result = {
            "data": _attempt(
                lambda: _write(os.path.join(data, "log.txt"), "línea\n")
            ),
            "tmp": _attempt(lambda: _write("/tmp/scratch.txt", "x")),
            "script": _attempt(
                lambda: _write(os.path.join(HERE, "written.txt"), "x")
            ),
            "elsewhere": _attempt(
                lambda: _write("/var/tmp/deno-wsgi-lost.txt", "x")
            ),
            "mkdir": _attempt(lambda: os.mkdir("/srv-lost-folder")),
        }
    elif action == "sqlite":
        result = _insert(data, query["worker"], int(query["count"]))
    else:
        result = {"pid": os.getpid()}
    body = json.dumps(result).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"),
         ("Content-Length", str(len(body)))],
    )
    return [body]
