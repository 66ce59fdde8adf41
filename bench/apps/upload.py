"""Benchmark app: reads the whole request body from wsgi.input in 64 KiB
blocks (never holding it whole) and answers the byte count as text.

Reads CONTENT_LENGTH bytes when the length is given, otherwise until
wsgi.input ends (chunked bodies where wsgi.input_terminated is true).
Plain Python, the same file for CPython (Apache + mod_wsgi, gunicorn) and
Pyodide (the gateway).
"""

BLOCK = 64 * 1024


def application(environ, start_response):
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    received = 0
    if length.isdigit():
        left = int(length)
        while left > 0:
            block = stream.read(min(BLOCK, left))
            if not block:
                break
            received += len(block)
            left -= len(block)
    elif environ.get("wsgi.input_terminated"):
        while True:
            block = stream.read(BLOCK)
            if not block:
                break
            received += len(block)
    body = str(received).encode("ascii")
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]
