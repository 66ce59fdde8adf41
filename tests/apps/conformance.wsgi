"""One WSGI app with a route per PEP 3333 behaviour the tests check."""

import json
import sys
import time
from wsgiref.validate import validator

# Every byte value, 1 MiB: far above the size a first chunk travels inline.
LARGE = bytes(range(256)) * 4096

closed = {"count": 0}
served = {"count": 0}


class ClosingBody:
    """An iterable whose close() the tests watch."""

    def __init__(self, chunks, delay=0.0):
        self._chunks = list(chunks)
        self._delay = delay

    def __iter__(self):
        for chunk in self._chunks:
            if self._delay:
                time.sleep(self._delay)
            yield chunk

    def close(self):
        closed["count"] += 1


def _text(start_response, body, status="200 OK", ctype="text/plain"):
    data = body.encode("utf-8") if isinstance(body, str) else body
    start_response(
        status, [("Content-Type", ctype), ("Content-Length", str(len(data)))]
    )
    return [data]


def _query(environ):
    pairs = [p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if p]
    return {k: (v[0] if v else "") for k, *v in pairs}


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = _query(environ)
    served["count"] += 1
    if path.startswith("/environ"):
        shown = {
            key: value if isinstance(value, (str, bool, int)) else repr(value)
            for key, value in environ.items()
        }
        shown["wsgi.version"] = list(environ["wsgi.version"])
        return _text(start_response, json.dumps(shown), ctype="application/json")
    if path == "/echo":
        stream = environ["wsgi.input"]
        mode = query.get("mode", "read")
        if mode == "read":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            data = stream.read(length) if length else b""
            while True:
                more = stream.read(65536)
                if not more:
                    break
                data += more
        elif mode == "readall":
            data = stream.read()
        elif mode == "readline":
            data = b"|".join(iter(lambda: stream.readline(), b""))
        elif mode == "readlines":
            data = b"|".join(stream.readlines())
        elif mode == "iter":
            data = b"|".join(line for line in stream)
        elif mode == "size":
            total = 0
            while True:
                block = stream.read(1 << 20)
                if not block:
                    break
                total += len(block)
            data = str(total).encode()
        else:
            data = b"unknown mode"
        return _text(start_response, data, ctype="application/octet-stream")
    if path == "/stream":
        count = int(query.get("n", "3"))
        delay = float(query.get("delay", "0"))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ClosingBody(
            [("chunk %d\n" % i).encode() for i in range(count)], delay
        )
    if path == "/sse":
        start_response(
            "200 OK",
            [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
        )

        def events():
            for i in range(3):
                yield ("data: event %d\n\n" % i).encode()
                time.sleep(0.2)

        return events()
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"first;")
        write(b"second;")
        return [b"iterable"]
    if path == "/headers":
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("X-Repeat", "one"),
                ("X-Repeat", "two"),
                ("Set-Cookie", "a=1; Path=/"),
                ("Set-Cookie", "b=2; Path=/"),
                ("X-Latin", "caf\u00e9 \u00ff"),
            ],
        )
        return [b"headers"]
    if path == "/error-before":
        raise RuntimeError("boom before output")
    if path == "/error-after":

        def broken():
            yield b"partial"
            raise RuntimeError("boom after output")

        start_response("200 OK", [("Content-Type", "text/plain")])
        return broken()
    if path == "/str-body":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["not bytes"]
    if path == "/print":
        print("printed by the app for %s" % environ["REQUEST_METHOD"])
        environ["wsgi.errors"].write("written to wsgi.errors\n")
        environ["wsgi.errors"].flush()
        return _text(start_response, "logged")
    if path == "/closed":
        return _text(start_response, str(closed["count"]))
    if path == "/served":
        return _text(start_response, str(served["count"]))
    if path == "/bad-status":
        start_response("OK", [("Content-Type", "text/plain")])
        return [b"never"]
    if path == "/bad-header":
        start_response("200 OK", [("Content-Type", 42)])
        return [b"never"]
    if path == "/injection":
        start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: x=1")])
        return [b"never"]
    if path == "/injection-known":
        # A name the gateway has already accepted: its value is still checked.
        start_response(
            "200 OK", [("Content-Type", "text/plain\r\nSet-Cookie: x=1")]
        )
        return [b"never"]
    if path == "/not-latin-known":
        start_response("200 OK", [("Content-Type", "text/\u0100")])
        return [b"never"]
    if path == "/twice":
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"never"]
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("handled")
        except ValueError:
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "text/plain")],
                sys.exc_info(),
            )
        return [b"replaced"]
    if path == "/file":
        import io

        data = b"0123456789" * 10000
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(len(data))),
            ],
        )
        return environ["wsgi.file_wrapper"](io.BytesIO(data), 4096)
    if path == "/large":
        mode = query.get("mode", "whole")
        if mode == "stream":
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return ClosingBody([LARGE, b"end"])
        length = 100000 if mode == "overlong" else len(LARGE)
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(length)),
            ],
        )
        return [LARGE]
    if path == "/large-references":
        return _text(start_response, str(sys.getrefcount(LARGE)))
    if path == "/overlong":
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")]
        )
        return ClosingBody([b"hello", b" world"])
    if path == "/status":
        code = query.get("code", "200")
        return _text(start_response, "status", status=code + " Custom Reason")
    if path == "/loop":
        while True:
            pass
    if path == "/slow":
        time.sleep(float(query.get("seconds", "1")))
        return _text(start_response, "slow done")
    if path == "/pid":
        import os

        return _text(start_response, str(id(sys.modules[__name__])) + " " + os.getcwd())
    return _text(start_response, "path " + path)


application = app
validated = validator(app)
