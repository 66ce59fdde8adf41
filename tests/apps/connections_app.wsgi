"""The app of tests/connections_test.ts and tests/scale_out_test.ts."""

import time


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sleep":
        # A request still in flight when the server is told to stop.
        time.sleep(float(environ["QUERY_STRING"] or "1"))
    if path == "/big":
        # Far more than the socket buffers hold: a client that reads
        # nothing stops the stream after a few MiB.
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (b"z" * 65536 for _ in range(1024))
    body = ("hello from %s\n" % environ.get("INSTANCE", "-")).encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]
