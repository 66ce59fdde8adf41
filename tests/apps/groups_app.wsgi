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
