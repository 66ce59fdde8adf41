"""Requests that wait, for tests/waits_test.ts: run_sync in a plain GET,
and a recv() from a server that never answers."""

import asyncio
import socket
from urllib.parse import parse_qs

from pyodide.ffi import run_sync


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/run_sync":
        run_sync(asyncio.sleep(0.05))
        body = b"run_sync ok"
    elif path == "/recv":
        port = int(parse_qs(environ["QUERY_STRING"])["port"][0])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            body = sock.recv(10) or b"closed"
    else:
        body = b"?"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
