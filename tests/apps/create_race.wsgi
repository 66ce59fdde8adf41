"""Several workers create the same files at the same moment
(tests/create_race_test.ts)."""

import json
import os
import sqlite3
from urllib.parse import parse_qs


def _sqlite(path, worker):
    """A fresh database: CREATE TABLE IF NOT EXISTS, then one row."""
    database = sqlite3.connect(path, timeout=30)
    step = "create"
    try:
        database.execute("CREATE TABLE IF NOT EXISTS rows (worker TEXT)")
        database.commit()
        step = "insert"
        database.execute("INSERT INTO rows VALUES (?)", (worker,))
        database.commit()
        return None
    except sqlite3.Error as error:
        return "%s at %s: %s" % (type(error).__name__, step, error)
    finally:
        database.close()


def _churn(path, times):
    """open(O_CREAT) and unlink one name, over and over, while other
    workers do the same: the file keeps appearing and going."""
    errors = {}
    for _ in range(times):
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
        except OSError as error:
            name = type(error).__name__
            errors[name] = errors.get(name, 0) + 1
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return errors


def application(environ, start_response):
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    data = environ["DATA"]
    if environ["PATH_INFO"] == "/sqlite":
        path = os.path.join(data, "round-%s.db" % query["round"])
        result = {"error": _sqlite(path, query["worker"])}
    else:
        result = _churn(os.path.join(data, "churn"), int(query["times"]))
    body = json.dumps(result).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
