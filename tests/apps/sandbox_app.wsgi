"""Tries one Deno capability through ``import js`` per request (sandbox_test.ts).

``/try?what=read&arg=/etc/passwd`` answers ``allowed: ...`` or
``refused: <JS error name>: <message>``; ``/spin`` runs a C loop that never
checks for interrupts; ``/`` is a plain hello.
"""

import json
from urllib.parse import parse_qs

import js
from pyodide.ffi import run_sync, to_js


def _options(**values):
    return to_js(values, dict_converter=js.Object.fromEntries)


def attempt(what, arg):
    deno = js.Deno
    if what == "read":
        return deno.readTextFileSync(arg)[:20]
    if what == "write":
        deno.writeTextFileSync(arg, "", _options(append=True))
        return arg
    if what == "run":
        return deno.Command.new(arg).outputSync().code
    if what == "env-all":
        return len(json.loads(js.JSON.stringify(deno.env.toObject())))
    if what == "env-get":
        return deno.env.get(arg)
    if what == "fetch":
        return run_sync(js.fetch(arg)).status
    if what == "connect":
        host, port = arg.rsplit(":", 1)
        conn = run_sync(deno.connect(_options(hostname=host, port=int(port))))
        conn.close()
        return "connected"
    if what == "ffi":
        return str(deno.dlopen(arg, js.Object.new()))
    if what == "sys":
        return str(getattr(deno, arg)())
    raise ValueError(what)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/spin":
        body = str(sum(range(10**11)))
    elif path == "/try":
        query = {k: v[-1] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
        try:
            body = "allowed: %s" % (attempt(query["what"], query.get("arg")),)
        except Exception as error:
            name = getattr(getattr(error, "js_error", None), "name", None)
            body = "refused: %s: %s" % (name or type(error).__name__, error)
    else:
        body = "hello"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
