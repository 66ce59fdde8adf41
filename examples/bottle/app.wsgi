# The WSGI script: WSGIScriptAlias /bottle .../examples/bottle/app.wsgi
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
if here not in sys.path:
    sys.path.insert(0, here)

from todo import create_app  # noqa: E402

application = create_app()
