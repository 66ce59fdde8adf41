"""No write is ever lost silently: where Python may write, and safe SQLite.

The gateway calls ``install(writable, readonly, missing_permission)`` once in
every interpreter, before any application code runs.  From then on:

* Writes go to the host folders of the group's ``writable`` option, which
  the gateway mounts read-write at the same absolute paths (NODEFS): they
  persist, and every worker of the group sees them.
* ``/tmp`` and ``/dev`` (``/dev/null``, ``/dev/shm``, ...) stay writable as
  scratch space for ``tempfile``, spooled uploads and the like.  They are
  Pyodide's in-memory file system: each worker has its own, and it is gone
  at the next restart.
* Every other write raises ``PermissionError(errno.EACCES, message)`` whose
  message says which option would allow it: folders mapped from the host
  read-only (the script's folder, ``pythonPath``, ``pythonHome``, ``home``)
  name their option, writable folders that Deno's own permissions keep
  closed name the missing ``--allow-write`` flag, and anything else (which
  would only land in this worker's memory) names ``writable``.

The most specific folder wins: a ``writable`` folder inside a read-only one
(``/srv/app/data`` inside the script's folder ``/srv/app``) is writable, and
a read-only folder inside ``/tmp`` is read-only.

The check is an audit hook (``sys.addaudithook``), which cannot be removed.
It sees what Python code does through ``open``, ``os`` and ``shutil``; it is
a guard against writes that would be lost, not a sandbox: writes made by C
code (SQLite's journal files, for one) raise no audit event, so they are
judged by the file they belong to.

SQLite: Emscripten's file locks are no-ops, so two workers (interpreters in
other threads or processes sharing the host file) writing one database at
the same time could corrupt it.  ``sqlite3.connect()`` on a file in a
writable folder therefore returns a connection whose statements take an
exclusive lock on the host, a folder ``<database>.deno-wsgi-lock`` made with
``mkdir``, for each transaction: from the first statement to ``commit()`` or
``rollback()``, or for the one statement in autocommit mode.  Rows of a
query run outside a transaction are fetched while the lock is held.  A
waiter that gives up after the connection's ``timeout`` (5 s by default, as
in ``sqlite3``) gets ``sqlite3.OperationalError("database is locked")``, and
a lock not refreshed for 30 s (its holder died) is broken.  See docs/files.md.
"""

import errno
import json
import os
import sqlite3
import sqlite3.dbapi2
import sys
import time

# ---------------------------------------------------------------------------
# Where writes may go

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

# Folders of the in-memory file system that stay writable: per worker.
SCRATCH = ("/tmp", "/dev")

_WRITABLE = "writable"
_SCRATCH = "scratch"
_READONLY = "readonly"
_DENIED = "denied"

# At equal depth, a folder given as denied beats writable beats read-only.
_PRIORITY = {_DENIED: 0, _WRITABLE: 1, _READONLY: 2, _SCRATCH: 3}

# (folder with a trailing "/", folder, kind, option or flag), deepest first.
_rules = ()


def _folder(path):
    """A configured folder as the audit hook compares paths: absolute, real."""
    return os.path.realpath(os.path.abspath(os.fsdecode(os.fspath(path))))


def _rule_for(path):
    """The most specific rule that covers ``path``, or None."""
    for prefix, folder, kind, detail in _rules:
        if path == folder or path.startswith(prefix):
            return folder, kind, detail
    return None


def _refusal(path, sqlite=False):
    """Why a write to the absolute real ``path`` is refused, or None."""
    rule = _rule_for(path)
    if rule is None:
        folder = json.dumps(os.path.dirname(path) or "/")
        return (
            "deno-wsgi: %s is outside the group's writable folders, so the "
            "write would only go to this worker's memory and be lost at the "
            "next restart; add its folder to the group's `writable` option "
            "(defineGroup(name, { writable: [%s] }))" % (path, folder)
        )
    folder, kind, detail = rule
    if kind is _WRITABLE or kind is _SCRATCH:
        return None
    if kind is _DENIED:
        return (
            "deno-wsgi: %s is in the writable folder %s, but Deno's "
            "permissions do not allow writing there: start the server with "
            "%s" % (path, folder, detail)
        )
    message = (
        "deno-wsgi: %s is in %s (%s), which is read-only to Python; add the "
        "folder to `writable` (defineGroup(name, { writable: [%s] })) to "
        "write there"
        % (path, detail, folder, json.dumps(os.path.dirname(path) or "/"))
    )
    if sqlite:
        message += (
            ", or open the database read-only: sqlite3.connect(%s, uri=True)"
            % json.dumps("file:%s?mode=ro" % path)
        )
    return message


def _absolute(path, dir_fd=-1, follow=True):
    """The real absolute path an os call on ``path`` touches, or None.

    None for file descriptors (already open, so already checked).  With
    ``follow`` false the last component is not resolved, as for
    ``os.remove`` or ``os.rename``, which act on a symbolic link itself.
    """
    if isinstance(path, int) or path is None:
        return None
    try:
        path = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    if not path.startswith("/"):
        base = None
        if isinstance(dir_fd, int) and dir_fd >= 0:
            try:
                base = os.readlink("/proc/self/fd/%d" % dir_fd)
            except OSError:
                pass
        path = os.path.join(base or os.getcwd(), path)
    if follow:
        return os.path.realpath(path)
    head, tail = os.path.split(os.path.normpath(path))
    return os.path.join(os.path.realpath(head), tail)


def check_write(path, dir_fd=-1, follow=True):
    """Raise PermissionError if Python may not write to ``path``."""
    full = _absolute(path, dir_fd, follow)
    if full is not None:
        message = _refusal(full)
        if message is not None:
            raise PermissionError(errno.EACCES, message)


def _sqlite_path(database, uri=True):
    """The file a ``sqlite3.connect`` database names, and if it may write.

    Returns ``(path, writes)``; ``path`` is None for in-memory databases.
    A ``file:`` name is read as a URI (the audit event cannot tell whether
    ``uri=True`` was passed, and a file really called ``file:...`` is rare).
    """
    try:
        name = os.fsdecode(os.fspath(database))
    except TypeError:
        return None, False
    if name in ("", ":memory:"):
        return None, False
    if not (uri and name.startswith("file:")):
        return name, True
    from urllib.parse import parse_qs, unquote

    rest = name[5:].partition("#")[0]
    rest, _, query = rest.partition("?")
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    if rest.startswith("//"):
        authority, slash, rest = rest[2:].partition("/")
        rest = slash + rest
    path = unquote(rest)
    if params.get("mode") == "memory" or path in ("", ":memory:"):
        return None, False
    writes = params.get("mode") not in ("ro",) and params.get(
        "immutable"
    ) not in ("1", "true", "yes", "on")
    return path, writes


# ---------------------------------------------------------------------------
# The audit hook


def _check_first(args):
    check_write(args[0])


def _check_first_nofollow(args):
    check_write(args[0], args[-1], follow=False)


def _check_first_dir_fd(args):
    check_write(args[0], args[-1])


def _check_rename(args):
    check_write(args[0], args[2], follow=False)
    check_write(args[1], args[3], follow=False)


def _check_symlink(args):
    check_write(args[1], args[2], follow=False)


def _check_link(args):
    check_write(args[1], args[3], follow=False)


def _check_second(args):
    check_write(args[1])


def _check_both(args):
    check_write(args[0], follow=False)
    check_write(args[1])


def _check_archive(args):
    check_write(args[0])


def _check_unpack(args):
    check_write(args[1] if args[1] is not None else os.getcwd())


def _check_sqlite(args):
    path, writes = _sqlite_path(args[0])
    if path is None or not writes:
        return
    full = _absolute(path)
    message = _refusal(full, sqlite=True)
    if message is not None:
        raise PermissionError(errno.EACCES, message)


def _check_dbm(args):
    flag = args[1] if len(args) > 1 else "r"
    if isinstance(flag, str) and flag[:1] in ("w", "c", "n"):
        check_write(args[0])


_HANDLERS = {
    "os.mkdir": _check_first_nofollow,
    "os.remove": _check_first_nofollow,
    "os.rmdir": _check_first_nofollow,
    "os.rename": _check_rename,
    "os.symlink": _check_symlink,
    "os.link": _check_link,
    "os.truncate": _check_first,
    "os.chmod": _check_first_dir_fd,
    "os.chown": _check_first_dir_fd,
    "os.utime": _check_first_dir_fd,
    "os.chflags": _check_first,
    "os.lchflags": _check_first,
    "os.setxattr": _check_first,
    "os.removexattr": _check_first,
    "shutil.copyfile": _check_second,
    "shutil.copymode": _check_second,
    "shutil.copystat": _check_second,
    "shutil.copytree": _check_second,
    "shutil.chown": _check_first,
    "shutil.move": _check_both,
    "shutil.rmtree": _check_first,
    "shutil.make_archive": _check_archive,
    "shutil.unpack_archive": _check_unpack,
    "sqlite3.connect": _check_sqlite,
    "dbm.open": _check_dbm,
}


def _audit(event, args):
    """The audit hook: ``open`` first, as it is by far the most frequent."""
    if event == "open":
        # args: (path or fd, mode or None, flags); reads have no write flag.
        if args[2] & _WRITE_FLAGS:
            check_write(args[0])
        return
    handler = _HANDLERS.get(event)
    if handler is not None:
        handler(args)


# ---------------------------------------------------------------------------
# A lock on the host file system, shared by every worker

_HOST_JS = """
(() => {
  const fs = globalThis.process?.getBuiltinModule?.("node:fs");
  if (!fs?.mkdirSync) return undefined;
  const token = (s) => `${s.ino}:${s.birthtimeMs}`;
  const mine = (lock, owner) => {
    const s = fs.statSync(lock, { throwIfNoEntry: false });
    return s !== undefined && token(s) === owner;
  };
  return {
    // A token (str) once held; else how long the holder has been quiet,
    // in ms (number; 0 when deferring to a waiter), or -1: try again.
    acquire(lock, polite) {
      const wait = lock + "-wait";
      if (polite) {
        const w = fs.statSync(wait, { throwIfNoEntry: false });
        if (w !== undefined && Date.now() - w.mtimeMs < 1000) return 0;
      }
      try {
        fs.mkdirSync(lock);
      } catch (error) {
        if (error.code !== "EEXIST") throw error;
        const s = fs.statSync(lock, { throwIfNoEntry: false });
        return s === undefined ? -1 : Math.max(0, Date.now() - s.mtimeMs);
      }
      if (!polite) fs.rmSync(wait, { recursive: true, force: true });
      return token(fs.statSync(lock));
    },
    // Tells holders that someone waits, so they let it go first.
    wait(lock) {
      const wait = lock + "-wait";
      const now = new Date();
      try {
        fs.utimesSync(wait, now, now);
      } catch {
        try { fs.mkdirSync(wait); } catch { /* made by another waiter */ }
      }
    },
    touch(lock, owner) {
      if (!mine(lock, owner)) return false;
      const now = new Date();
      fs.utimesSync(lock, now, now);
      return true;
    },
    release(lock, owner) {
      if (mine(lock, owner)) fs.rmdirSync(lock);
    },
    breakStale(lock, staleMs) {
      const s = fs.statSync(lock, { throwIfNoEntry: false });
      if (s === undefined || Date.now() - s.mtimeMs < staleMs) return;
      const aside = `${lock}.stale-${Date.now()}-${Math.random()}`;
      try {
        fs.renameSync(lock, aside);
        fs.rmdirSync(aside);
      } catch { /* broken by another waiter */ }
    },
  };
})()
"""

# A lock whose holder has not refreshed it for this long is broken.
STALE_SECONDS = 30.0
# Holders refresh their lock when they use it this long after the last time.
_REFRESH_SECONDS = 5.0
_FIRST_DELAY = 0.0005
_MAX_DELAY = 0.01

_host = None
_locks = {}


def _host_fs():
    """The JavaScript helpers above, or False where there is no node:fs."""
    global _host
    if _host is None:
        try:
            from pyodide.code import run_js

            _host = run_js(_HOST_JS) or False
        except Exception:
            _host = False
    return _host


class HostLock:
    """An exclusive lock on one database, shared by every worker.

    The lock is a folder next to the database: ``mkdir`` is atomic on the
    host, across threads and processes.  It goes through node:fs and not
    through Emscripten's file system, whose cache of names would keep
    seeing a lock folder that another worker has already removed.  Within
    one interpreter the lock is shared by all its connections (SQLite's own
    locks between connections of one process do work), counted by
    ``holders``.
    """

    def __init__(self, database):
        self.path = database + ".deno-wsgi-lock"
        self.holders = 0
        self._owner = None
        self._touched = 0.0

    def acquire(self, timeout):
        """Take the lock, waiting up to ``timeout`` seconds for it."""
        if self.holders:
            self.holders += 1
            return
        host = _host_fs()
        deadline = None
        delay = _FIRST_DELAY
        polite = True
        while True:
            try:
                result = host.acquire(self.path, polite)
            except Exception as error:
                raise sqlite3.OperationalError(
                    "deno-wsgi: cannot lock %s: %s" % (self.path, error)
                ) from None
            if isinstance(result, str):
                break
            polite = False
            if result < 0:
                continue
            if result > STALE_SECONDS * 1000:
                host.breakStale(self.path, STALE_SECONDS * 1000)
                continue
            now = time.monotonic()
            if deadline is None:
                deadline = now + max(timeout, 0.0)
            if now >= deadline:
                raise sqlite3.OperationalError("database is locked")
            host.wait(self.path)
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, _MAX_DELAY)
        self._owner = result
        self._touched = time.monotonic()
        self.holders = 1

    def refresh(self):
        """Keep a long transaction's lock from being taken for stale."""
        now = time.monotonic()
        if now - self._touched >= _REFRESH_SECONDS:
            self._touched = now
            _host_fs().touch(self.path, self._owner)

    def release(self):
        """Let go of one hold; the last one removes the lock folder."""
        self.holders -= 1
        if self.holders <= 0:
            self.holders = 0
            owner, self._owner = self._owner, None
            try:
                _host_fs().release(self.path, owner)
            except Exception:
                pass  # the folder went away: nothing left to release


def _lock_for(database, uri):
    """The HostLock for a database in a writable folder, or None."""
    path, _ = _sqlite_path(database, uri)
    if path is None or not _host_fs():
        return None
    full = _absolute(path)
    rule = _rule_for(full)
    if rule is None or rule[1] is not _WRITABLE:
        return None
    lock = _locks.get(full)
    if lock is None:
        lock = _locks[full] = HostLock(full)
    return lock


# ---------------------------------------------------------------------------
# Connections and cursors that hold the lock


class LockingCursor(sqlite3.Cursor):
    """Cursor methods that run statements under the connection's lock.

    Combined with the cursor class in use (``Cursor`` or one passed as
    ``factory``, such as Django's) as ``class X(Theirs, LockingCursor)``,
    so it sits right above the C cursor, as the application expects.
    """

    _rows = None

    def execute(self, *args, **kwargs):
        connection = self.connection
        self._rows = None
        connection._enter()
        try:
            return super().execute(*args, **kwargs)
        finally:
            connection._leave(self)

    def executemany(self, *args, **kwargs):
        connection = self.connection
        self._rows = None
        connection._enter()
        try:
            return super().executemany(*args, **kwargs)
        finally:
            connection._leave(None)

    def executescript(self, *args, **kwargs):
        connection = self.connection
        self._rows = None
        connection._enter()
        try:
            return super().executescript(*args, **kwargs)
        finally:
            connection._leave(None)

    def _buffer(self):
        """Fetch the remaining rows now, while the lock is held."""
        if self._rows is None and self.description is not None:
            rows = sqlite3.Cursor.fetchall(self)
            rows.reverse()
            self._rows = rows

    def fetchone(self):
        if self._rows is None:
            return super().fetchone()
        return self._rows.pop() if self._rows else None

    def fetchmany(self, size=None):
        if self._rows is None:
            return super().fetchmany(self.arraysize if size is None else size)
        rows = self._rows
        size = self.arraysize if size is None else size
        start = max(len(rows) - max(size, 0), 0)
        taken = rows[start:]
        del rows[start:]
        taken.reverse()
        return taken

    def fetchall(self):
        if self._rows is None:
            return super().fetchall()
        taken, self._rows = self._rows[::-1], []
        return taken

    def __next__(self):
        if self._rows is None:
            return super().__next__()
        if self._rows:
            return self._rows.pop()
        raise StopIteration

    def close(self):
        self._rows = None
        return super().close()


class LockingConnection(sqlite3.Connection):
    """Connection methods that hold the lock for the length of a transaction.

    The lock is taken by the first statement and kept while the connection
    is in a transaction; ``commit()``, ``rollback()`` and ``close()`` let
    it go (also with ``autocommit=False``, where a new transaction starts
    at once but touches the file only with its first statement).
    """

    _lock = None
    _timeout = 5.0
    _held = False

    def _enter(self):
        if self._held:
            self._lock.refresh()
        else:
            self._lock.acquire(self._timeout)
            self._held = True

    def _leave(self, cursor):
        if not self._held:
            return
        try:
            in_transaction = self.in_transaction
        except sqlite3.ProgrammingError:
            in_transaction = False  # closed meanwhile
        if in_transaction:
            return
        if cursor is not None:
            try:
                cursor._buffer()
            except sqlite3.Error:
                pass  # the same error comes back with the next fetch
        self._release()

    def _release(self):
        if self._held:
            self._held = False
            self._lock.release()

    def cursor(self, factory=sqlite3.Cursor):
        return super().cursor(_locking_class(factory, LockingCursor))

    def execute(self, *args, **kwargs):
        return self.cursor().execute(*args, **kwargs)

    def executemany(self, *args, **kwargs):
        return self.cursor().executemany(*args, **kwargs)

    def executescript(self, *args, **kwargs):
        return self.cursor().executescript(*args, **kwargs)

    def commit(self):
        super().commit()
        self._release()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._release()

    def close(self):
        try:
            super().close()
        finally:
            self._release()

    def backup(self, target, *args, **kwargs):
        self._enter()
        other = isinstance(target, LockingConnection)
        try:
            if other:
                target._enter()
            try:
                return super().backup(target, *args, **kwargs)
            finally:
                if other:
                    target._leave(None)
        finally:
            self._leave(None)

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.commit()
        else:
            self.rollback()
        return False

    def __del__(self):
        self._release()


_classes = {}


def _locking_class(base, mixin):
    """``base`` combined with ``mixin`` (cached), or else ``base`` itself."""
    key = (base, mixin)
    combined = _classes.get(key)
    if combined is None:
        root = mixin.__mro__[1]
        if base is root:
            combined = mixin
        elif isinstance(base, type) and issubclass(base, root):
            if issubclass(base, mixin):
                combined = base
            else:
                names = {
                    "__module__": base.__module__,
                    "__qualname__": base.__qualname__,
                }
                combined = type(base.__name__, (base, mixin), names)
        else:
            combined = base  # a function or other callable: left alone
        _classes[key] = combined
    return combined


_PARAMETERS = (
    "timeout",
    "detect_types",
    "isolation_level",
    "check_same_thread",
    "factory",
    "cached_statements",
    "uri",
)

_original_connect = sqlite3.connect


def connect(database, *args, **kwargs):
    """``sqlite3.connect``, whose connections to a file in a writable folder
    serialize their transactions with those of every other worker."""
    named = dict(zip(_PARAMETERS, args))
    named.update(kwargs)
    lock = _lock_for(database, bool(named.get("uri", False)))
    if lock is None:
        return _original_connect(database, *args, **kwargs)
    factory = named.get("factory", sqlite3.Connection)
    combined = _locking_class(factory, LockingConnection)
    if len(args) > 4:
        args = args[:4] + (combined,) + args[5:]
    else:
        kwargs["factory"] = combined
    connection = _original_connect(database, *args, **kwargs)
    if isinstance(connection, LockingConnection):
        connection._lock = lock
        connection._timeout = float(named.get("timeout", 5.0))
    return connection




# ---------------------------------------------------------------------------

_hooked = False


def _plain(value):
    """A Python value from what the gateway passes (maybe a JsProxy)."""
    to_py = getattr(value, "to_py", None)
    return to_py() if to_py is not None else value


def install(writable, readonly, missing_permission):
    """Enforce where this interpreter writes; serialize SQLite between workers.

    ``writable``: absolute host folders Python may write to (mounted
    read-write at the same paths).  ``readonly``: host folders mapped
    read-only, each with the name of the option that mapped it
    (``{"/srv/app": "the WSGI script's folder"}``), which refusals name.
    ``missing_permission``: writable folders Deno's permissions keep closed,
    each with the missing flag (``"--allow-write=/srv/app/data"``).  The
    most specific folder wins, so a writable folder inside a read-only one
    stays writable.  ``/tmp`` and ``/dev`` stay writable, in memory and per
    worker.  Calling it again replaces the folders; the hook stays.
    """
    global _rules, _hooked
    rules = [(folder, _SCRATCH, None) for folder in SCRATCH]
    rules += [
        (_folder(folder), _READONLY, str(option))
        for folder, option in _plain(readonly).items()
    ]
    rules += [
        (_folder(folder), _WRITABLE, None) for folder in _plain(writable)
    ]
    rules += [
        (_folder(folder), _DENIED, str(flag))
        for folder, flag in _plain(missing_permission).items()
    ]
    rules.sort(key=lambda rule: (-len(rule[0]), _PRIORITY[rule[1]]))
    _rules = tuple(
        (folder.rstrip("/") + "/", folder, kind, detail)
        for folder, kind, detail in rules
    )
    sqlite3.connect = connect
    sqlite3.dbapi2.connect = connect
    if not _hooked:
        _hooked = True
        sys.addaudithook(_audit)
