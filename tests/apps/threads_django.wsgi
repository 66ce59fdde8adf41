"""A minimal Django project in one file, on SQLite in a writable folder,
for tests/threads_limits_test.ts: each request that overlaps another
must have its own database connection and its own transaction."""

import json
import os
import threading
import time

import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="threads-test-key-that-is-long-enough-for-django-0123456789",
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(os.environ["DATA"], "django.sqlite3"),
        }
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402


def _names():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM names ORDER BY name")
        return [row[0] for row in cursor.fetchall()]


def _answer(seen):
    return HttpResponse(
        json.dumps(
            {
                "seen": seen,
                "connection": id(connection.connection),
                "wrapper": id(connections["default"]),
                "thread": threading.get_ident(),
            }
        ),
        content_type="application/json",
    )


def write(request):
    """Insert a name in a transaction, wait, read, then roll back."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO names VALUES (%s)", [request.GET["name"]])
        time.sleep(float(request.GET.get("wait", "0")))
        seen = _names()
        response = _answer(seen)
        transaction.set_rollback(True)
    return response


def read(request):
    """What this request's own transaction sees, across a wait."""
    with transaction.atomic():
        seen = _names()
        time.sleep(float(request.GET.get("wait", "0")))
        seen += ["|"] + _names()
        return _answer(seen)


def setup(request):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS names (name TEXT)")
    return HttpResponse("ready")


urlpatterns = [path("write", write), path("read", read), path("setup", setup)]

application = get_wsgi_application()
