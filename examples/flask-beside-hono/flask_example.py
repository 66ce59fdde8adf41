"""A small but real Flask 3 application: templates, a form POST with a
redirect, a JSON API, a session cookie, a file upload and a streamed
response.  ``app.wsgi`` serves it; it knows nothing of the gateway, and runs
unchanged under Apache's mod_wsgi (the benchmark, bench/run.ts, does that).
"""

import hashlib
import os
import time

from flask import (
    Flask,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)

ITEMS = [
    {"id": 1, "name": "teapot", "price": 18.5, "tags": ["kitchen", "tea"]},
    {"id": 2, "name": "kettle", "price": 32.0, "tags": ["kitchen"]},
    {"id": 3, "name": "mug", "price": 6.25, "tags": ["kitchen", "tea"]},
    {"id": 4, "name": "cosy", "price": 12.0, "tags": ["tea", "wool"]},
]


def create_app(secret_key=None):
    """Build the application; the secret key signs the session cookie."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key
        or os.environ.get("FLASK_SECRET_KEY", "dev-only-secret-change-me"),
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    guestbook = []
    items = [dict(item) for item in ITEMS]

    @app.get("/")
    def index():
        session["visits"] = session.get("visits", 0) + 1
        return render_template(
            "index.html",
            items=items,
            visits=session["visits"],
            user=session.get("user"),
        )

    @app.get("/hello/<name>")
    def hello(name):
        return render_template("hello.html", name=name, items=items)

    @app.route("/guestbook", methods=["GET", "POST"])
    def guestbook_page():
        if request.method == "POST":
            name = request.form.get("name", "").strip()
            message = request.form.get("message", "").strip()
            if not name or not message:
                flash("Both a name and a message, please.", "error")
                return (
                    render_template("guestbook.html", entries=guestbook),
                    400,
                )
            guestbook.append({"name": name, "message": message})
            flash("Thanks, %s!" % name, "ok")
            return redirect(url_for("guestbook_page"))
        return render_template("guestbook.html", entries=guestbook)

    @app.post("/login")
    def login():
        user = request.form.get("user", "").strip()
        if not user:
            abort(400)
        session["user"] = user
        return redirect(url_for("index"))

    @app.post("/logout")
    def logout():
        session.pop("user", None)
        return redirect(url_for("index"))

    @app.get("/api/whoami")
    def whoami():
        return jsonify(
            user=session.get("user"), visits=session.get("visits", 0)
        )

    @app.get("/api/items")
    def list_items():
        tag = request.args.get("tag")
        chosen = [i for i in items if tag is None or tag in i["tags"]]
        return jsonify(
            items=chosen,
            count=len(chosen),
            total=round(sum(i["price"] for i in chosen), 2),
            link=url_for("list_items"),
        )

    @app.post("/api/items")
    def add_item():
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return jsonify(
                error='send JSON like {"name": ..., "price": ...}'
            ), 400
        item = {
            "id": max(i["id"] for i in items) + 1,
            "name": data["name"],
            "price": float(data.get("price", 0)),
            "tags": list(data.get("tags", [])),
        }
        items.append(item)
        response = jsonify(item)
        response.status_code = 201
        response.headers["Location"] = url_for("get_item", item_id=item["id"])
        return response

    @app.get("/api/items/<int:item_id>")
    def get_item(item_id):
        for item in items:
            if item["id"] == item_id:
                return jsonify(item)
        return jsonify(error="no item %d" % item_id), 404

    @app.route("/upload", methods=["GET", "POST"])
    def upload():
        if request.method == "GET":
            return render_template("upload.html")
        upload = request.files.get("file")
        if upload is None or upload.filename == "":
            return jsonify(error="no file in the 'file' field"), 400
        digest = hashlib.sha256()
        size = 0
        while True:
            block = upload.stream.read(65536)
            if not block:
                break
            size += len(block)
            digest.update(block)
        return jsonify(
            filename=upload.filename,
            content_type=upload.mimetype,
            size=size,
            sha256=digest.hexdigest(),
            note=request.form.get("note"),
        )

    @app.get("/stream")
    def stream():
        count = request.args.get("count", 5, type=int)

        @stream_with_context
        def generate():
            yield "streaming %d lines for %s\n" % (count, request.path)
            for number in range(count):
                time.sleep(0.01)
                yield "line %d\n" % number

        return app.response_class(generate(), mimetype="text/plain")

    @app.errorhandler(404)
    def not_found(error):
        return render_template("404.html", path=request.path), 404

    return app
