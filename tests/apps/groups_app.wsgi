"""Endpoints that make process-group behaviour visible to the tests."""

import os
import random
import sys
import time

import groups_shared

IDENTITY = "%08x" % random.getrandbits(32)
state = {"value": None}


def _text(start_response, body, status="200 OK"):
    data = body.encode("utf-8")
    start_response(
        status,
        [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))],
    )
    return [data]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = dict(
        pair.split("=", 1) for pair in environ["QUERY_STRING"].split("&") if "=" in pair
    )
    if path == "/id":
        return _text(start_response, IDENTITY)
    if path == "/interpreter":
        return _text(start_response, groups_shared.INTERPRETER)
    if path == "/set":
        state["value"] = query.get("v")
        groups_shared.value = query.get("v")
        return _text(start_response, "set")
    if path == "/get":
        return _text(
            start_response,
            "%s %s" % (state["value"], getattr(groups_shared, "value", None)),
        )
    if path == "/order":
        groups_shared.order.append(query.get("n"))
        time.sleep(float(query.get("s", "0")))
        return _text(start_response, ",".join(groups_shared.order))
    if path == "/loop":
        while True:
            pass
    if path == "/swallow":
        # Catches the KeyboardInterrupt that a request timeout raises, so
        # only killing the worker can end it.
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    if path == "/abort":
        # A C-level abort(): Pyodide's fatal error, the interpreter is done.
        os.abort()
    if path == "/write":
        try:
            with open(query.get("name", "probe.txt"), "w") as f:
                f.write("written")
            return _text(start_response, "written")
        except OSError as error:
            return _text(start_response, "denied: %s" % type(error).__name__)
    if path == "/sleep":
        time.sleep(float(query.get("s", "1")))
        return _text(start_response, "slept")
    if path == "/cpu":
        total = 0
        for i in range(int(query.get("n", "200000"))):
            total += i * i
        return _text(start_response, str(total))
    if path == "/settings":
        return _text(
            start_response,
            "|".join(
                [
                    os.environ.get("GROUP_VAR", "-"),
                    os.getcwd(),
                    str(getattr(sys.modules.get("groups_preloaded"), "LOADED", "-")),
                    str("groups_extra" in sys.modules or _try_import()),
                    str(environ["wsgi.multiprocess"]),
                    str(environ["wsgi.multithread"]),
                ]
            ),
        )
    return _text(start_response, "groups app " + path)


def _try_import():
    try:
        import groups_extra  # noqa: F401  (lives on the group's pythonPath)
    except ImportError:
        return False
    return True
