"""Benchmark app: CPU-bound Python, ``GET /?n=N`` sums ``i * i`` for i below
N (default 300000) and answers the sum as text.

Plain Python, the same file for CPython (Apache + mod_wsgi, gunicorn) and
Pyodide (the gateway).
"""

from urllib.parse import parse_qs


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    total = 0
    for i in range(int(query.get("n", ["300000"])[0])):
        total += i * i
    body = str(total).encode("ascii")
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]
