"""Runs once when a worker loads the app: the database is migrated and the
superuser exists. What ``manage.py migrate`` and ``manage.py
createsuperuser --noinput`` do, run inside the interpreter that serves the
app (there is no host CPython with these packages to run manage.py).
"""

import os

from django.core.management import call_command


def prepare():
    """Migrate; create the superuser named by DJANGO_SUPERUSER_USERNAME."""
    from django.conf import settings

    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    call_command("migrate", interactive=False, verbosity=0)
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
    if username and os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
        from django.contrib.auth import get_user_model

        if not get_user_model().objects.filter(username=username).exists():
            # Reads DJANGO_SUPERUSER_PASSWORD (and _EMAIL) from os.environ.
            call_command(
                "createsuperuser",
                interactive=False,
                username=username,
                email=os.environ.get(
                    "DJANGO_SUPERUSER_EMAIL", "admin@example.com"
                ),
                verbosity=0,
            )
