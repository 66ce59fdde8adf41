# The WSGI script, as mod_wsgi users write it:
#   WSGIScriptAlias /guestbook /srv/flask-postgres/app.wsgi
# The database comes from DATABASE_URL (see guestbook.py).
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
if here not in sys.path:
    sys.path.insert(0, here)

from guestbook import create_app  # noqa: E402

application = create_app()
