"""The app of tests/hostile_test.ts and tests/request_buffering_test.ts.

A healthy route, routes that read the request body in each way PEP 3333
allows, and one route per way an application can misbehave.
"""

import hashlib
import json
import os
import sys
import time


def reply(start_response, payload, status="200 OK"):
    body = json.dumps(payload).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def read_in_blocks(stream):
    digest = hashlib.sha256()
    size = 0
    while True:
        block = stream.read(65536)
        if not block:
            return digest.hexdigest(), size
        digest.update(block)
        size += len(block)


def read_by_lines(stream):
    digest = hashlib.sha256()
    lines = 0
    for line in stream:
        digest.update(line)
        lines += 1
    return digest.hexdigest(), lines


def raise_midway():
    yield b"first part\n"
    raise RuntimeError("the generator failed midway")


def shorter_body():
    yield b"short"


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]
    # So that a test can tell that a hostile request never reached Python.
    environ["wsgi.errors"].write("app called: %s\n" % path)
    if path == "/sha":
        try:
            digest, size = read_in_blocks(environ["wsgi.input"])
        except OSError as error:
            environ["wsgi.errors"].write("upload failed: %r\n" % (error,))
            return reply(start_response, {"error": str(error)})
        return reply(
            start_response,
            {
                "sha256": digest,
                "size": size,
                "content_length": environ.get("CONTENT_LENGTH"),
            },
        )
    if path == "/lines":
        digest, lines = read_by_lines(environ["wsgi.input"])
        return reply(start_response, {"sha256": digest, "lines": lines})
    if path == "/sleep":
        time.sleep(float(environ["QUERY_STRING"] or "5"))
        return reply(start_response, {"slept": True})
    if path == "/twice":
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"never"]
    if path == "/bytes-header-name":
        start_response("200 OK", [(b"X-Name", "v")])
        return [b"never"]
    if path == "/int-header-value":
        start_response("200 OK", [("X-Value", 1)])
        return [b"never"]
    if path == "/hop-by-hop":
        start_response("200 OK", [("Connection", "close")])
        return [b"never"]
    if path == "/longer":
        start_response("200 OK", [("Content-Length", "5")])
        return [b"0123456789"]
    if path == "/shorter":
        start_response("200 OK", [("Content-Length", "100")])
        return shorter_body()
    if path == "/sys-exit":
        sys.exit(3)
    if path == "/os-exit":
        os._exit(1)
    if path == "/raise-before":
        raise RuntimeError("failed before start_response")
    if path == "/raise-after":
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise RuntimeError("failed after start_response")
    if path == "/raise-midway":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return raise_midway()
    return reply(start_response, {"path": path}, "404 Not Found")
