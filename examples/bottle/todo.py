"""A Bottle to-do list: templates, a form POST with a redirect built from a
route name, a JSON API, a signed cookie, and a file upload."""

import hashlib
import os

import bottle
from bottle import Bottle, HTTPResponse, request, response, template

SECRET = os.environ.get("BOTTLE_SECRET", "dev-only-secret-change-me")
HERE = os.path.dirname(os.path.abspath(__file__))
bottle.TEMPLATE_PATH.insert(0, os.path.join(HERE, "views"))


def create_app():
    """Build the application."""
    app = Bottle()
    todos = []

    def url(name, **kwargs):
        # get_url() prepends SCRIPT_NAME: the mount's prefix.
        return app.get_url(name, **kwargs)

    def page(**values):
        values.setdefault("name", None)
        return template(
            "index", todos=todos, url=url, root=request.script_name, **values
        )

    @app.get("/", name="index")
    def index():
        name = request.get_cookie("name", secret=SECRET)
        return page(name=name)

    @app.post("/todos", name="add")
    def add():
        text = request.forms.getunicode("text", "").strip()
        if not text:
            return HTTPResponse(
                page(error="Write something first."),
                status=400,
            )
        todos.append({"id": len(todos) + 1, "text": text, "done": False})
        bottle.redirect(url("index"))

    @app.post("/todos/<todo_id:int>/done", name="done")
    def done(todo_id):
        for todo in todos:
            if todo["id"] == todo_id:
                todo["done"] = True
                bottle.redirect(url("index"))
        bottle.abort(404, "No such to-do.")

    @app.get("/api/todos", name="api")
    def api():
        return {"todos": todos, "count": len(todos)}

    @app.post("/name", name="name")
    def set_name():
        name = request.forms.getunicode("name", "").strip()
        response.set_cookie(
            "name",
            name,
            secret=SECRET,
            path=request.script_name,
            httponly=True,
        )
        bottle.redirect(url("index"))

    @app.post("/upload", name="upload")
    def upload():
        upload = request.files.get("file")
        if upload is None:
            bottle.abort(400, "No file in the 'file' field.")
        data = upload.file.read()
        return {
            "filename": upload.raw_filename,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    @app.error(404)
    def not_found(error):
        response.content_type = "text/plain"
        return "Not found: %s" % request.path

    return app
