"""Benchmark app: a 1 MiB response body, built once at import and returned
as one bytes object with its Content-Length.

Plain Python, the same file for CPython (Apache + mod_wsgi, gunicorn) and
Pyodide (the gateway).
"""

SIZE = 1024 * 1024
BODY = b"x" * SIZE


def application(environ, start_response):
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(SIZE)),
        ],
    )
    return [BODY]
