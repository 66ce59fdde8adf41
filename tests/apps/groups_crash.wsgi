"""Kills its worker: an uncaught error in the worker's JavaScript."""

import js
from pyodide.ffi import run_sync


def application(environ, start_response):
    if environ["PATH_INFO"] == "/crash":
        js.eval("setTimeout(() => { throw new Error('worker crash on purpose') }, 0)")
        # Reading a streamed body lets the worker's event loop run the timer.
        environ["wsgi.input"].read()
        run_sync(js.eval("new Promise((resolve) => setTimeout(resolve, 3000))"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"alive"]
