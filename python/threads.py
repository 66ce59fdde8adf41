"""Requests as threads: what a group with ``threads > 1`` runs on.

Pyodide has one OS thread, but a request that waits (on a socket, a lock,
``time.sleep``) suspends its own WebAssembly stack and lets another request
run.  For the app, each request must then look like a thread of its own, as
under mod_wsgi's ``threads=``:

- ``threading.get_ident()``, ``current_thread()`` and ``threading.local``
  are per request;
- ``Lock``, ``RLock`` (and so ``Condition``, ``Semaphore``, ``Event`` and
  ``queue.Queue``, built on them) wait by suspending the waiting request:
  a real lock held across a suspension would block the only thread forever;
- ``time.sleep`` suspends instead of blocking the thread.

A request that outlives ``requestTimeout`` is ended by ``abort()``: whatever
it waits on raises ``KeyboardInterrupt``, and the sockets it blocks on are
closed.
"""

import collections
import contextvars
import itertools
import socket
import threading
import time

from pyodide.ffi import run_sync

_host = None
_real_get_ident = threading.get_ident
_real_current_thread = threading.current_thread
_idents = itertools.count(1 << 24)
_current = contextvars.ContextVar("deno_wsgi.request_thread", default=None)

# A waiter's promise resolves with one of these.
_TIMED_OUT, _GRANTED, _ABORTED = 0, 1, 2


class RequestThread:
    """What ``threading.current_thread()`` returns inside a request."""

    daemon = True

    def __init__(self, request_id):
        self.ident = next(_idents)
        self.native_id = self.ident
        self.name = "request-%d" % request_id
        self.request_id = request_id
        self.waiting = []  # the host waiters this request suspends on
        self.sockets = set()  # sockets it blocks on right now
        self.aborted = False

    def is_alive(self):
        return True

    def getName(self):
        return self.name

    def __repr__(self):
        return "<RequestThread(%s)>" % self.name


def get_ident():
    thread = _current.get()
    return _real_get_ident() if thread is None else thread.ident


def current_thread():
    thread = _current.get()
    return _real_current_thread() if thread is None else thread


def _wait(milliseconds):
    """Suspend this request until a waiter settles; return how it did."""
    waiter = _host.waiter(milliseconds)
    thread = _current.get()
    if thread is not None:
        if thread.aborted:
            raise KeyboardInterrupt("the request exceeded requestTimeout")
        thread.waiting.append(waiter)
    try:
        return waiter, run_sync(waiter.promise)
    finally:
        if thread is not None:
            thread.waiting.remove(waiter)


class Lock:
    """A lock whose contended acquire suspends the waiting request."""

    def __init__(self):
        self._locked = False
        self._waiters = collections.deque()

    def acquire(self, blocking=True, timeout=-1):
        if not self._locked:
            self._locked = True
            return True
        if not blocking:
            return False
        if timeout is None or timeout < 0:
            milliseconds = -1
        else:
            milliseconds = timeout * 1000
        waiter = _host.waiter(milliseconds)
        self._waiters.append(waiter)
        thread = _current.get()
        if thread is not None:
            if thread.aborted:
                self._waiters.remove(waiter)
                raise KeyboardInterrupt("the request exceeded requestTimeout")
            thread.waiting.append(waiter)
        try:
            outcome = run_sync(waiter.promise)
        finally:
            if thread is not None:
                thread.waiting.remove(waiter)
        if outcome == _GRANTED:
            return True  # release() handed the lock over: it stays locked
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass
        if outcome == _ABORTED:
            raise KeyboardInterrupt("the request exceeded requestTimeout")
        return False

    def release(self):
        if not self._locked:
            raise RuntimeError("release unlocked lock")
        while self._waiters:
            if self._waiters.popleft().grant(_GRANTED):
                return
        self._locked = False

    def locked(self):
        return self._locked

    def _at_fork_reinit(self):
        self._locked = False
        self._waiters.clear()

    __enter__ = acquire

    def __exit__(self, *exc_info):
        self.release()

    def __repr__(self):
        state = "locked" if self._locked else "unlocked"
        return "<%s %s Lock object>" % (state, __name__)


class RLock:
    """A re-entrant lock owned by a request (see ``get_ident``)."""

    def __init__(self):
        self._block = Lock()
        self._owner = None
        self._count = 0

    def acquire(self, blocking=True, timeout=-1):
        me = get_ident()
        if self._owner == me:
            self._count += 1
            return True
        if not self._block.acquire(blocking, timeout):
            return False
        self._owner = me
        self._count = 1
        return True

    __enter__ = acquire

    def release(self):
        if self._owner != get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if not self._count:
            self._owner = None
            self._block.release()

    def __exit__(self, *exc_info):
        self.release()

    def locked(self):
        return self._block.locked()

    # What threading.Condition uses when the lock has them.
    def _is_owned(self):
        return self._owner == get_ident()

    def _release_save(self):
        state = (self._count, self._owner)
        self._count = 0
        self._owner = None
        self._block.release()
        return state

    def _acquire_restore(self, state):
        self._block.acquire()
        self._count, self._owner = state

    def _recursion_count(self):
        return self._count if self._owner == get_ident() else 0

    def _at_fork_reinit(self):
        self._block._at_fork_reinit()
        self._owner = None
        self._count = 0


def sleep(seconds):
    """``time.sleep`` that suspends this request instead of the thread."""
    seconds = float(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    _, outcome = _wait(seconds * 1000)
    if outcome == _ABORTED:
        raise KeyboardInterrupt("the request exceeded requestTimeout")


def _track(original):
    """Remember which request blocks on which socket, so abort() finds it."""

    def method(self, *args):
        thread = _current.get()
        if thread is None:
            return original(self, *args)
        thread.sockets.add(self)
        try:
            return original(self, *args)
        finally:
            thread.sockets.discard(self)

    method.__doc__ = original.__doc__
    return method


def enter(request_id):
    """Make the calling request a thread of its own; returns it."""
    thread = RequestThread(request_id)
    _current.set(thread)
    return thread


def abort(thread):
    """End a suspended request: its waits raise, its sockets close."""
    thread.aborted = True
    for waiter in list(thread.waiting):
        waiter.grant(_ABORTED)
    for sock in list(thread.sockets):
        try:
            client = _host.socketOf(sock.fileno())
            if client is not None:
                client.abort()
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def install(host):
    """Swap in the request-aware primitives; ``host`` makes the waiters."""
    global _host
    _host = host
    threading.get_ident = get_ident
    threading.current_thread = current_thread
    threading.currentThread = current_thread
    threading.Lock = Lock
    threading.RLock = RLock
    threading._allocate_lock = Lock
    threading._PyRLock = RLock
    import _threading_local

    _threading_local.current_thread = current_thread
    _threading_local.RLock = RLock
    threading.local = _threading_local.local
    time.sleep = sleep
    for name in ("recv", "recv_into", "recvfrom", "send", "sendall"):
        setattr(socket.socket, name, _track(getattr(socket.socket, name)))
