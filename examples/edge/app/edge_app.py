"""The edge demo's Flask app: small, stateless, no disk."""

import platform

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask at the edge!\n"


@app.get("/info")
def info():
    return jsonify(python=platform.python_version(), runtime="pyodide")
