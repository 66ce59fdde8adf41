"""Never finishes loading: the import waits far longer than startupTimeout."""

import time

time.sleep(600)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"never"]
