"""Answers what a restored worker must not share with its snapshot: its
randomness, and module state that a fresh import gives."""

import json
import os
import random
import secrets
import sys
import uuid

import snapmod

REQUESTS = 0


def application(environ, start_response):
    global REQUESTS
    REQUESTS += 1
    body = json.dumps({
        "random": random.random(),
        "token": secrets.token_hex(8),
        "uuid": str(uuid.uuid4()),
        "urandom": os.urandom(8).hex(),
        "requests": REQUESTS,
        "value": snapmod.VALUE,
        "loaded": snapmod.LOADS,
        "env": os.environ.get("SNAP_ENV", ""),
        "preloaded": "snapmod" in sys.modules,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
