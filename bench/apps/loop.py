"""Benchmark app: hello world at ``/``, and routes that misbehave.

``/loop`` never returns (a loop that only a request timeout ends),
``/crash`` ends its process (``os._exit``).  Plain Python, the same file for
CPython (Apache + mod_wsgi) and Pyodide (the gateway).
"""

import os

BODY = b"Hello World!"


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/loop":
        while True:
            pass
    if path == "/crash":
        os._exit(1)
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]
