"""Benchmark app: hello world, the smallest WSGI app (like examples/hello).

Plain Python, the same file for CPython (Apache + mod_wsgi, gunicorn) and
Pyodide (the gateway).
"""

BODY = b"Hello World!"


def application(environ, start_response):
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]
