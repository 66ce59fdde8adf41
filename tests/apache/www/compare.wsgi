"""The same answers under Apache + mod_wsgi and from-apache, compared."""


def application(environ, start_response):
    if environ["PATH_INFO"] == "/echo":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size)
    else:
        keys = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
                "MYTEST", "mod_wsgi.process_group",
                "mod_wsgi.application_group", "wsgi.multithread",
                "wsgi.multiprocess", "wsgi.url_scheme")
        body = "\n".join(f"{key}={environ.get(key)!r}" for key in keys)
        body = body.encode()
    status = "404 Not Found" if environ["PATH_INFO"] == "/gone" else "200 OK"
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))])
    return [body]
