"""Outgoing HTTP from inside a WSGI app, for tests/http_client_test.ts.

The test passes targets in the query string (url=, port=, ca=); every
route answers JSON, and client errors are caught and described (type,
its base classes, errno, message), so the test can check that a failure
is the right one.

Routes:
  /urllib?url=            urllib.request.urlopen
  /http_client?url=       http.client.HTTPConnection (GET and a POST)
  /requests?url=          requests.get, and requests.post(json=) to /echo
  /https?url=&ca=&how=    HTTPS with verification: how = default (no test
                          CA: must fail), cafile (a context with cafile=ca),
                          env (SSL_CERT_FILE=ca), requests-default,
                          requests-verify (verify=ca)
  /error?kind=&url=       refused (closed port), dns (a name that does not
                          resolve), timeout (a server that never answers),
                          each through socket, urllib and requests
"""

import errno
import http.client
import json
import os
import socket
import ssl
import time
import traceback
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

TIMEOUT = 10


def _respond(start_response, payload, status="200 OK"):
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(data))),
        ],
    )
    return [data]


def _describe(error):
    """What a test needs to know about an exception, its cause included."""
    reason = getattr(error, "reason", None)
    cause = error.__cause__ or error.__context__
    number = getattr(error, "errno", None)
    return {
        "type": type(error).__name__,
        "bases": [c.__name__ for c in type(error).__mro__],
        "errno": number,
        # By name: WebAssembly's errno numbers are not Linux's.
        "errno_name": errno.errorcode.get(number) if isinstance(number, int) else None,
        "message": str(error),
        "reason": _describe(reason) if isinstance(reason, BaseException) else None,
        "cause": _describe(cause) if isinstance(cause, BaseException) else None,
    }


def _attempt(call):
    """Runs call(); returns its result or the error it raised, and the time."""
    started = time.monotonic()
    try:
        result = {"ok": True, "value": call()}
    except Exception as error:
        result = {"ok": False, "error": _describe(error)}
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


# ------------------------------------------------------------ plain HTTP


def with_urllib(url):
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        body = response.read().decode("utf-8")
        return {"status": response.status, "body": body, "url": response.url}


def with_http_client(url):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        connection.request("GET", "/unicode")
        first = connection.getresponse()
        unicode_body = first.read().decode("utf-8")
        # The same connection again (keep-alive): a POST to /echo.
        payload = json.dumps({"text": unicode_body}).encode("utf-8")
        connection.request(
            "POST",
            "/echo?via=http.client",
            body=payload,
            headers={"Content-Type": "application/json", "X-Test": "http.client"},
        )
        second = connection.getresponse()
        echo = json.loads(second.read())
    finally:
        connection.close()
    return {
        "status": first.status,
        "content_type": first.getheader("Content-Type"),
        "unicode": unicode_body,
        "echo": echo,
    }


def with_requests(url):
    import requests

    with requests.Session() as session:
        hello = session.get(url + "/hello", timeout=TIMEOUT)
        redirected = session.get(url + "/redirect", timeout=TIMEOUT)
        missing = session.get(url + "/status/404", timeout=TIMEOUT)
        unicode_text = session.get(url + "/unicode", timeout=TIMEOUT)
        echo = session.post(
            url + "/echo", json={"text": unicode_text.text, "n": 3}, timeout=TIMEOUT
        )
    return {
        "hello": hello.text,
        "redirected": {
            "status": redirected.status_code,
            "history": [r.status_code for r in redirected.history],
            "body": redirected.text,
        },
        "missing": missing.status_code,
        "unicode": unicode_text.text,
        "echo": echo.json(),
    }


# ------------------------------------------------------------------ HTTPS


def _urlopen_text(url, context=None):
    with urllib.request.urlopen(url, timeout=TIMEOUT, context=context) as response:
        return response.read().decode("utf-8")


def with_https(url, ca, how):
    if how == "default":
        return _urlopen_text(url)
    if how == "cafile":
        return _urlopen_text(url, ssl.create_default_context(cafile=ca))
    if how == "env":
        # OpenSSL reads SSL_CERT_FILE when the default context loads the
        # default verify paths, so it is set only around this request.
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = ca
        try:
            return _urlopen_text(url, ssl.create_default_context())
        finally:
            if previous is None:
                del os.environ["SSL_CERT_FILE"]
            else:
                os.environ["SSL_CERT_FILE"] = previous
    import requests

    if how == "requests-default":
        return requests.get(url, timeout=TIMEOUT).text
    if how == "requests-verify":
        return requests.get(url, timeout=TIMEOUT, verify=ca).text
    raise LookupError("unknown how=%r" % how)


# ------------------------------------------------------------------ errors


def with_errors(kind, url):
    import requests

    parts = urlsplit(url)
    if kind == "timeout":
        # Accepts, never answers: each client must give up after 1 s.
        return {
            "socket": _attempt(lambda: _socket_read(parts.hostname, parts.port)),
            "urllib": _attempt(lambda: urllib.request.urlopen(url, timeout=1).read()),
            "requests": _attempt(lambda: requests.get(url, timeout=(5, 1)).text),
        }
    return {
        "socket": _attempt(
            lambda: socket.create_connection(
                (parts.hostname, parts.port or 80), timeout=TIMEOUT
            ).close()
        ),
        "getaddrinfo": _attempt(
            lambda: socket.getaddrinfo(parts.hostname, parts.port or 80)
        ),
        "urllib": _attempt(lambda: urllib.request.urlopen(url, timeout=TIMEOUT).read()),
        "requests": _attempt(lambda: requests.get(url, timeout=TIMEOUT).text),
    }


def _socket_read(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.settimeout(1)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return sock.recv(100).decode("latin-1")


# ------------------------------------------------------------------ routes


def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    try:
        url = query.get("url", "")
        if path == "/urllib":
            result = with_urllib(url)
        elif path == "/http_client":
            result = with_http_client(url)
        elif path == "/requests":
            result = with_requests(url)
        elif path == "/https":
            result = _attempt(lambda: with_https(url, query.get("ca"), query["how"]))
        elif path == "/error":
            result = with_errors(query["kind"], url)
        else:
            return _respond(start_response, {"error": "no route"}, "404 Not Found")
    except Exception as error:
        environ["wsgi.errors"].write(traceback.format_exc())
        return _respond(start_response, _describe(error), "500 Internal Server Error")
    return _respond(start_response, result)
