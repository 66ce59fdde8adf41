"""The app of tests/production_test.ts: environ, uploads, streamed output."""

import json
import os
import time

calls = {"upload": 0}
KEYS = (
    "REMOTE_ADDR",
    "REQUEST_SCHEME",
    "wsgi.url_scheme",
    "HTTPS",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SCRIPT_NAME",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
)


def reply(start_response, status, payload):
    body = json.dumps(payload).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/environ":
        return reply(start_response, "200 OK", {k: environ.get(k) for k in KEYS})
    if path == "/os-environ":
        names = environ["QUERY_STRING"].split(",")
        return reply(start_response, "200 OK", {n: os.environ.get(n) for n in names})
    if path == "/upload":
        calls["upload"] += 1
        try:
            size = len(environ["wsgi.input"].read())
        except OSError as error:
            environ["wsgi.errors"].write("upload failed: %r\n" % (error,))
            return reply(start_response, "200 OK", {"error": str(error)})
        return reply(start_response, "200 OK", {"size": size})
    if path == "/calls":
        return reply(start_response, "200 OK", calls)
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"x" * 1000 for _ in range(5))
    if path == "/slow-stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return slow_chunks()
    return reply(start_response, "404 Not Found", {"path": path})


def slow_chunks():
    for _ in range(50):
        yield b"y" * 1000
        time.sleep(0.1)
