"""Benchmark app: a 1 MiB response, and an upload whose size it echoes."""

PAYLOAD = b"x" * (1024 * 1024)


def application(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        stream = environ["wsgi.input"]
        remaining = int(environ.get("CONTENT_LENGTH") or 0)
        total = 0
        while remaining > 0:
            block = stream.read(min(remaining, 65536))
            if not block:
                break
            total += len(block)
            remaining -= len(block)
        body = str(total).encode()
    else:
        body = PAYLOAD
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]
