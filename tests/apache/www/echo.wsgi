"""Answers with what a from-apache test checks: where and how it ran."""

import json
import os
import sys


def application(environ, start_response):
    keys = ["SCRIPT_NAME", "PATH_INFO", "mod_wsgi.process_group",
            "mod_wsgi.application_group", "MYTEST", "STAGE",
            "HTTP_AUTHORIZATION", "wsgi.url_scheme"]
    seen = {key: environ.get(key) for key in keys}
    seen["cwd"] = os.getcwd()
    seen["script"] = os.path.basename(__file__)
    seen["preloaded"] = "preload_me" in sys.modules
    body = json.dumps(seen).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"),
         ("Content-Length", str(len(body)))],
    )
    return [body]
