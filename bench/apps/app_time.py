"""Benchmark probe: how long an application takes without any server.

Used by bench/overhead.ts.  Mounted beside an app in the same interpreter
(``WSGIApplicationGroup %{GLOBAL}``), a GET of
``/__app_time?script=S&prefix=P&path=Q&seconds=T&what=W`` calls the app
that the gateway loaded from script S in a loop for about T seconds, with
the probe's own environ moved to SCRIPT_NAME P and PATH_INFO Q, and
answers the number of calls and their mean wall time as JSON (the caller
divides the server's CPU time by the calls: wall time on a busy machine
counts other processes' turns too).  ``what`` is:

* ``app``: the application alone (call, iterate the body, close);
* ``bridge``: the same request through python/wsgi_bridge.py's ``begin()``,
  as the gateway makes it (environ from the packed CGI string, checks,
  the compatibility wrapper, the packed head), but without JavaScript;
* ``profile-app``, ``profile-bridge``: the same under cProfile, answering
  pstats' top entries as text.

Run by host CPython (``python3 app_time.py SCRIPT PREFIX PATH [SECONDS]
[--profile]``), it times the same app the same way (CPU time), for
comparison.
"""

import cProfile
import io
import json
import os
import pstats
import sys
import time
from urllib.parse import parse_qs

# Keys of the gateway's per-mount base environ: the rest is per request.
_BASE_KEYS = frozenset(
    [
        "mod_wsgi.process_group",
        "mod_wsgi.application_group",
        "mod_wsgi.callable_object",
        "mod_wsgi.script_name",
        "SCRIPT_FILENAME",
    ]
)


def _moved(environ, prefix, path):
    moved = dict(environ)
    moved["SCRIPT_NAME"] = "" if prefix == "/" else prefix
    moved["PATH_INFO"] = path
    moved["QUERY_STRING"] = ""
    moved["REQUEST_URI"] = moved["SCRIPT_NAME"] + path
    return moved


def _start_response(status, headers, exc_info=None):
    return None


def _call(application, environ):
    environ = dict(environ)
    environ["wsgi.input"] = io.BytesIO(b"")
    body = application(environ, _start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def _loop(step, seconds, clock=time.perf_counter):
    """Calls ``step`` for about ``seconds``: (calls, mean µs per call)."""
    for _ in range(50):
        step()
    calls = 0
    started = clock()
    while True:
        for _ in range(20):
            step()
        calls += 20
        elapsed = clock() - started
        if elapsed >= seconds:
            return calls, elapsed / calls * 1e6


def _profiled(step, seconds):
    for _ in range(50):
        step()
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    while time.perf_counter() - started < seconds:
        step()
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    return out.getvalue()


def _gateway_steps(environ, script, prefix, path):
    """The app's own call, and the bridge's begin() of the same request."""
    import wsgi_bridge

    moved = _moved(environ, prefix, path)
    base = {key: moved[key] for key in _BASE_KEYS if key in moved}
    base["wsgi.multiprocess"] = moved.get("wsgi.multiprocess", False)
    base["wsgi.multithread"] = moved.get("wsgi.multithread", False)
    loaded = wsgi_bridge.Application(
        script, "application", json.dumps(base), lambda level, text: None
    )
    cgi = "\0".join(
        "%s\0%s" % (key, value)
        for key, value in moved.items()
        if isinstance(value, str) and key not in _BASE_KEYS
    )
    ids = iter(range(10**9, 2 * 10**9))

    def bridge():
        request_id = next(ids)
        result = wsgi_bridge.begin(request_id, loaded, cgi, None, None)
        if isinstance(result, str) and result[result.index(":") + 1] == "1":
            return
        while not wsgi_bridge.resume(request_id)[1]:
            pass

    return (lambda: _call(loaded.callable, moved)), bridge


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    script = query["script"][0]
    seconds = float(query.get("seconds", ["1"])[0])
    what = query.get("what", ["app"])[0]
    app_step, bridge_step = _gateway_steps(
        environ, script, query.get("prefix", ["/"])[0], query["path"][0]
    )
    step = bridge_step if what.endswith("bridge") else app_step
    if what.startswith("profile"):
        body = _profiled(step, seconds).encode()
        kind = "text/plain"
    else:
        calls, us = _loop(step, seconds)
        body = json.dumps({"what": what, "n": calls, "us": us}).encode()
        kind = "application/json"
    start_response(
        "200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))]
    )
    return [body]


def _main(argv):
    """Host CPython: time the script's app with a request like wrk's."""
    import importlib.machinery
    import importlib.util

    args = [arg for arg in argv if not arg.startswith("--")]
    script, prefix, path = args[:3]
    seconds = float(args[3]) if len(args) > 3 else 2.0
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    loader = importlib.machinery.SourceFileLoader("wsgi_script", script)
    spec = importlib.util.spec_from_loader("wsgi_script", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    environ = {
        "REQUEST_METHOD": "GET",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    moved = _moved(environ, prefix, path)
    step = lambda: _call(module.application, moved)  # noqa: E731
    if "--profile" in argv:
        print(_profiled(step, seconds))
    else:
        calls, us = _loop(step, seconds, time.process_time)
        print(json.dumps({"what": "app", "n": calls, "us": us}))


if __name__ == "__main__":
    _main(sys.argv[1:])
