"""Requests that wait, crash their worker or hang in recv(), for
tests/threads_limits_test.ts."""

import os
import socket
import time
from urllib.parse import parse_qs

# Sockets kept past their request, as a connection pool keeps them: only
# the gateway can close one whose request it abandoned.
held = []


def _text(start_response, text):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode()]


def application(environ, start_response):
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    path = environ["PATH_INFO"]
    if path == "/sleep":
        time.sleep(float(query.get("s", "0")))
        return _text(start_response, "slept")
    if path == "/crash":
        if query.get("how") == "abort":
            os.abort()  # a fatal Pyodide error: the interpreter is done
        import js

        js.eval("setTimeout(() => { throw new Error('crash on purpose') }, 0)")
        time.sleep(10)  # lets the worker's event loop run the timer
        return _text(start_response, "still alive")
    if path == "/hold":
        sock = socket.create_connection(("127.0.0.1", int(query["port"])))
        held.append(sock)
        return _text(start_response, repr(sock.recv(10)))
    return _text(start_response, "?")
