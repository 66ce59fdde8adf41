# The WSGI script, as mod_wsgi users write it: WSGIScriptAlias /app app.wsgi
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
if here not in sys.path:
    sys.path.insert(0, here)

from flask_example import create_app  # noqa: E402

application = create_app()
