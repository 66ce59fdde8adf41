"""The smallest WSGI app: what mod_wsgi's quick configuration guide mounts."""


def application(environ, start_response):
    body = b"Hello World!"
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]
