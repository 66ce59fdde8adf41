"""Imports a package whose extension module was compiled for the host."""

import hostext_a  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable"]
