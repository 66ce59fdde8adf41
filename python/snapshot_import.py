"""Importing WSGI scripts into an interpreter snapshot (``snapshot.script``).

Every worker restored from the snapshot starts with the script's module
exactly as the import left it.  That is only the state a fresh import gives
when the import drew no entropy: a ``secret_key = os.urandom(24)`` or a
token made at import would be the same in every worker.  So while the
script is imported here, the sources of entropy refuse to answer
(Cloudflare's Python Workers do the same at snapshot time), and a script
that asks for one is left out of the snapshot: each worker imports it.
"""

import os
import random
import sys

import compat
import wsgi_bridge


class SnapshotRefused(Exception):
    """The script did something at import that a snapshot cannot keep."""


def _refusing(what):
    def refuse(*args, **kwargs):
        raise SnapshotRefused(
            "%s was called while the script was imported for the interpreter "
            "snapshot: every worker restored from it would share the value. "
            "Make the value at the first request, or set snapshot.script "
            "to false" % what
        )

    return refuse


def _poison():
    """Make every source of entropy refuse; returns what to put back."""
    saved = []

    def swap(owner, name, replacement):
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    swap(os, "urandom", _refusing("os.urandom()"))
    # secrets, SystemRandom and uuid4 read random._urandom or os.urandom.
    swap(random, "_urandom", _refusing("random.SystemRandom (secrets)"))
    shared = random._inst
    for name in dir(random):
        value = getattr(random, name)
        if getattr(value, "__self__", None) is shared:
            swap(random, name, _refusing("random.%s()" % name))
    seed = random.Random.seed

    def seed_refusing(self, a=None, version=2):
        if a is None:
            _refusing("random.Random() without a seed")()
        return seed(self, a, version)

    swap(random.Random, "seed", seed_refusing)
    return saved


def _unpoison(saved):
    """Put the sources back, also where an import copied a refusing one."""
    # The refusing functions stay referenced until the scan is over, so
    # that no id() below is reused by another object.
    refusing = [getattr(owner, name) for owner, name, _ in saved]
    originals = {
        id(replacement): value
        for replacement, (_, _, value) in zip(refusing, saved)
    }
    for owner, name, value in reversed(saved):
        setattr(owner, name, value)
    # "from os import urandom" during the import bound the refusing one.
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for key, value in list(namespace.items()):
            original = originals.get(id(value))
            if original is not None:
                namespace[key] = original


def import_script(script_path, callable_name, paths):
    """Import a WSGI script as its first request would, with no entropy.

    Raises SnapshotRefused (or the script's own error) when it cannot be
    in the snapshot; the script is then not in ``sys.modules``.
    """
    wsgi_bridge.add_paths(paths)
    hints = []
    saved = _poison()
    try:
        with compat.ApplicationCall(lambda level, line: hints.append(line)):
            wsgi_bridge.load_script(script_path, callable_name)
    finally:
        _unpoison(saved)


def imported(script_paths):
    """Whether every script is already in ``sys.modules`` (a restored heap)."""
    return all(
        wsgi_bridge.script_module_name(path) in sys.modules
        for path in script_paths
    )
