"""A leaking app and one that runs out of memory, for memoryLimit.

/leak keeps 50 MiB more on every request, as a cache that is never
emptied would.  /oom raises MemoryError, as an allocation that the heap
cannot satisfy does (a real one needs the 4 GiB WebAssembly ceiling, too
much for a shared test machine); /oom-caught catches it and answers 500
itself, as Flask's error handler does.  /id names this interpreter.
"""

import os

TOKEN = os.urandom(8).hex()
KEPT = []


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    status = "200 OK"
    if path == "/leak":
        KEPT.append(bytearray(50 * 1024 * 1024))
        body = "%s %d" % (TOKEN, len(KEPT))
    elif path == "/oom":
        raise MemoryError("cannot allocate the report")
    elif path == "/oom-caught":
        try:
            raise MemoryError("cannot allocate the report")
        except MemoryError:
            status = "500 Internal Server Error"
            body = "out of memory"
    else:
        body = TOKEN
    data = body.encode("ascii")
    start_response(
        status,
        [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))],
    )
    return [data]
