# The WSGI script: WSGIScriptAlias / .../examples/django/app.wsgi
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
if here not in sys.path:
    sys.path.insert(0, here)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from mysite.wsgi import application  # noqa: E402, F401
from mysite.startup import prepare  # noqa: E402

if os.environ.get("DJANGO_PREPARE", "1") == "1":
    prepare()
