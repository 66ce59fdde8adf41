"""Probes of defects that sat on the seams between modules
(tests/seams_test.ts)."""

import sys

# Counts how often this file is executed in this interpreter.
sys.seams_loads = getattr(sys, "seams_loads", 0) + 1
requests = 0


def application(environ, start_response):
    global requests
    path = environ["PATH_INFO"]
    if path == "/newline-header":
        start_response("200 OK", [("X-Foo\n", "1")])
        return (chunk for chunk in [b"never ", b"sent"])
    if path == "/newline-status":
        start_response("200 OK\n", [("Content-Type", "text/plain")])
        return (chunk for chunk in [b"never ", b"sent"])
    if path == "/count":
        requests += 1
        body = "%d %d" % (requests, sys.seams_loads)
    else:
        body = "hello"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
