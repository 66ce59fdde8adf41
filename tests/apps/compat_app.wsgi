"""Probes of python/compat.py through the gateway (tests/compat_test.ts)."""

import asyncio
import hashlib
import importlib
import json
import sys
import traceback


def _hex(value):
    return bytes.fromhex(value)


def _pbkdf2(cases):
    results = []
    for name, password, salt, iterations, dklen in cases:
        try:
            key = hashlib.pbkdf2_hmac(
                name, _hex(password), _hex(salt), iterations, dklen
            )
            results.append(key.hex())
        except Exception as error:
            results.append("%s: %s" % (type(error).__name__, error))
    return results


def _loop():
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    return {"running": running}


def _import(module):
    sys.modules.pop(module, None)
    try:
        importlib.import_module(module)
        return {"ok": True}
    except BaseException as error:
        return {
            "ok": False,
            "type": type(error).__name__,
            "text": "".join(traceback.format_exception(error)),
        }


def _limits():
    """What an app cannot do here, and the errors it gets."""
    import subprocess
    import threading

    found = {}
    for name, action in (
        ("thread", lambda: threading.Thread(target=print).start()),
        ("subprocess", lambda: subprocess.run(["true"])),
    ):
        try:
            action()
            found[name] = None
        except Exception as error:
            found[name] = "%s: %s" % (type(error).__name__, error)
    return found


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/pbkdf2":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = _pbkdf2(json.loads(environ["wsgi.input"].read(length)))
    elif path == "/scrypt":
        body = hashlib.scrypt(
            b"password", salt=b"NaCl", n=1024, r=8, p=16
        ).hex()
    elif path == "/limits":
        body = _limits()
    elif path == "/loop":
        body = _loop()
    elif path == "/import":
        body = _import(environ["QUERY_STRING"])
    elif path == "/stream-loop":

        def generate():
            yield json.dumps(_loop()).encode()

        start_response("200 OK", [("Content-Type", "application/json")])
        return generate()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
