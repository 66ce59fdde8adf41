"""The Python half of the gateway: runs one WSGI exchange per call.

The TypeScript host imports this module into every Pyodide interpreter.  It
loads WSGI scripts the way mod_wsgi does and drives an application through
PEP 3333: it builds ``environ``, validates ``start_response`` and hands the
body back to the host one chunk at a time, so that responses stream.
"""

import contextvars
import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import traceback

from pyodide.ffi import JsException, run_sync, to_js

# Pyodide compatibility hooks (python/compat.py): explains host-compiled
# extension imports, adds hashlib.pbkdf2_hmac; compat.ApplicationCall() wraps every
# call into application code (no running asyncio loop, explained errors).
import compat

compat.install()

# Used with fullmatch(): "$" would also match before a final newline.
_STATUS_RE = re.compile(r"[0-9]{3} [^\x00-\x1f\x7f]*")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# A value without control characters (tab allowed) and latin-1 encodable.
_GOOD_VALUE_RE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# Header names that passed every check, lowercased: most responses repeat
# the same few, and a check costs microseconds in WebAssembly.
_good_names = {}
_GOOD_NAMES_MAX = 512
_HOP_BY_HOP = frozenset(
    [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    ]
)
_BLOCK_SIZE = 65536
# A first chunk up to this size travels inside the head's str.
_INLINE_CHUNK_LIMIT = 4096


class LogStream:
    """A text stream that sends whole lines to the host's log.

    Used for ``wsgi.errors``; a write never raises into the application.
    """

    def __init__(self, emit, level="error"):
        self._emit = emit
        self._level = level
        self._pending = ""

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(
                "wsgi.errors.write() takes str, not %s" % type(text).__name__
            )
        self._pending += text
        if "\n" in self._pending:
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self._emit(self._level, line)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._pending:
            self._emit(self._level, self._pending)
            self._pending = ""

    def isatty(self):
        return False

    @property
    def closed(self):
        return False


class InputStream:
    """``wsgi.input``: reads the request body as the host streams it.

    ``source`` is a host object whose ``read()`` returns a promise of the
    next chunk (a Uint8Array) or of ``undefined`` at the end.  ``run_sync``
    suspends Python until the chunk arrives, so a large upload is never held
    whole in memory.
    """

    def __init__(self, source=None, body=b""):
        self._source = source
        self._buffer = bytearray(body)
        self._eof = source is None

    def _fill(self):
        if self._eof:
            return False
        try:
            chunk = run_sync(self._source.read())
        except JsException as error:
            # As mod_wsgi: a body that cannot be read is an OSError.
            raise OSError("request data read error: %s" % error.message) from None
        if chunk is None:
            self._eof = True
            return False
        self._buffer += chunk.to_bytes()
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            while self._fill():
                pass
            size = len(self._buffer)
        while len(self._buffer) < size and self._fill():
            pass
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, size=-1):
        limit = size if size is not None and size >= 0 else None
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                end += 1
                break
            if limit is not None and len(self._buffer) >= limit:
                end = limit
                break
            if not self._fill():
                end = len(self._buffer)
                break
        if limit is not None:
            end = min(end, limit)
        line = bytes(self._buffer[:end])
        del self._buffer[:end]
        return line

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file-like object in blocks."""

    def __init__(self, filelike, blksize=_BLOCK_SIZE):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class WsgiError(Exception):
    """An application broke a rule of PEP 3333."""


def _check_status(status):
    if not isinstance(status, str):
        raise WsgiError(
            "start_response() status must be a str like '200 OK', got %s"
            % type(status).__name__
        )
    if not _STATUS_RE.fullmatch(status):
        raise WsgiError(
            "start_response() status %r is not a three-digit code, a space "
            "and a reason phrase, like '200 OK'" % status
        )
    try:
        status.encode("latin-1")
    except UnicodeEncodeError:
        raise WsgiError(
            "start_response() status %r is not latin-1 encodable" % status
        ) from None


def _check_headers(headers):
    if not isinstance(headers, list):
        raise WsgiError(
            "start_response() headers must be a list of (name, value) "
            "tuples, got %s" % type(headers).__name__
        )
    for item in headers:
        if type(item) is tuple and len(item) == 2:
            name, value = item
            if (
                type(name) is str
                and name in _good_names
                and type(value) is str
                and _GOOD_VALUE_RE.fullmatch(value)
            ):
                continue
        _check_header(item)


def _check_header(item):
    """The checks of one header, with what is wrong in the message."""
    if not isinstance(item, tuple) or len(item) != 2:
        raise WsgiError(
            "start_response() header %r is not a (name, value) tuple"
            % (item,)
        )
    name, value = item
    if not isinstance(name, str) or not isinstance(value, str):
        raise WsgiError(
            "start_response() header %r: name and value must both be "
            "str" % (item,)
        )
    if not _TOKEN_RE.fullmatch(name):
        raise WsgiError(
            "start_response() header name %r is not a valid HTTP token"
            % name
        )
    if _BAD_VALUE_RE.search(value):
        raise WsgiError(
            "start_response() header %r has a control character (such "
            "as CR or LF) in its value" % name
        )
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise WsgiError(
            "start_response() header %r has a value that is not latin-1 "
            "encodable; encode it (RFC 8187) first" % name
        ) from None
    if name.lower() in _HOP_BY_HOP:
        raise WsgiError(
            "start_response() header %r is hop-by-hop, which PEP 3333 "
            "forbids; the server manages it" % name
        )
    if type(name) is str and len(_good_names) < _GOOD_NAMES_MAX:
        _good_names[name] = name.lower()


class Exchange:
    """One request through one application: start, then chunks, then close."""

    __slots__ = (
        "_application",
        "_environ",
        "_log",
        "_status",
        "_headers",
        "_headers_sent",
        "_written",
        "_iterable",
        "_iterator",
        "_closed",
        "context",
        "thread",
    )

    def __init__(self, application, environ, log):
        self._application = application
        self._environ = environ
        self._log = log
        self._status = None
        self._headers = None
        self._headers_sent = False
        self._written = []
        self._iterable = None
        self._iterator = None
        self._closed = False

    def _start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self._headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise WsgiError(
                "start_response() was called a second time without exc_info"
            )
        _check_status(status)
        _check_headers(headers)
        self._status = status
        self._headers = list(headers)
        return self._write

    def _write(self, data):
        if self._status is None:
            raise WsgiError("write() was called before start_response()")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise WsgiError(
                "write() takes bytes, not %s" % type(data).__name__
            )
        self._written.append(bytes(data))

    def _take_written(self):
        data = b"".join(self._written)
        self._written.clear()
        return data

    def _next_chunk(self):
        """Return the next non-empty body chunk, or None when done."""
        if self._written:
            written = self._take_written()
            if written:
                return written
        for item in self._iterator:
            if not isinstance(item, (bytes, bytearray)):
                raise WsgiError(
                    "the application's iterable yielded %s; WSGI body items "
                    "must be bytes" % type(item).__name__
                )
            if self._status is None:
                raise WsgiError(
                    "the application yielded a body before calling "
                    "start_response()"
                )
            if self._written:
                written = self._take_written()
                if written:
                    return written + bytes(item)
            if item:
                return item if type(item) is bytes else bytes(item)
        return (self._take_written() or None) if self._written else None

    def start(self):
        """Run the application up to its first body chunk.

        Returns ``(status, headers, chunk_or_None, done)``.  Raises if the
        application fails before output, so the host answers 500.
        """
        iterable = self._application(self._environ, self._start_response)
        self._iterable = iterable
        kind = type(iterable)
        if (
            (kind is list or kind is tuple)
            and self._status is not None
            and not self._written
        ):
            # The common case of a complete body, checked and joined at once.
            for item in iterable:
                if type(item) is not bytes and not isinstance(
                    item, (bytes, bytearray)
                ):
                    raise WsgiError(
                        "the application's iterable yielded %s; WSGI body "
                        "items must be bytes" % type(item).__name__
                    )
            chunk = b"".join(iterable) or None
            self._headers_sent = True
            self.close()
            return self._status, self._headers, chunk, True
        self._iterator = iter(iterable)
        chunk = self._next_chunk()
        if self._status is None:
            raise WsgiError(
                "the application returned without calling start_response()"
            )
        if chunk is not None and isinstance(self._iterable, (list, tuple)):
            # A sequence is complete already: send it whole, with a length.
            rest = self._next_chunk()
            while rest is not None:
                chunk += rest
                rest = self._next_chunk()
            self._headers_sent = True
            self.close()
            return self._status, self._headers, chunk, True
        self._headers_sent = True
        # Like mod_wsgi, stop once the declared Content-Length is sent: a
        # Flask response is then done in one round trip instead of two.
        length = self._declared_length()
        done = chunk is None or (length is not None and len(chunk) >= length)
        if done:
            self.close()
        return self._status, self._headers, chunk, done

    def _declared_length(self):
        for name, value in self._headers:
            lowered = _good_names.get(name) or name.lower()
            if lowered == "content-length" and value.strip().isdigit():
                return int(value)
        return None

    def next(self):
        """Return ``[chunk_or_None, done]``; closes the iterable at the end."""
        chunk = self._next_chunk()
        if chunk is None:
            self.close()
            return [None, True]
        return [chunk, False]

    def close(self):
        """Call the iterable's close() exactly once; log what it raises."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self._iterable, "close", None)
        if close is not None:
            try:
                close()
            except BaseException:
                self._log(
                    "error",
                    "Exception in close() of the response iterable:\n"
                    + traceback.format_exc().rstrip(),
                )
        errors = self._environ.get("wsgi.errors")
        if isinstance(errors, LogStream):
            errors.flush()


def install_sleep(host_sleep):
    """Replace time.sleep with the host's, which a request timeout can end.

    Pyodide's time.sleep busy-waits, so a sleeping request would burn a core
    and ignore interrupts; the host's waits on the interrupt flag instead.
    """
    import time

    def sleep(seconds):
        seconds = float(seconds)
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        if host_sleep(seconds):
            raise KeyboardInterrupt("interrupted by the gateway")

    sleep.__doc__ = time.sleep.__doc__
    time.sleep = sleep


def watch_memory_errors(report):
    """Call ``report()`` whenever a MemoryError is raised, even one that the
    application catches (Flask turns it into a 500): the host then recycles
    the worker, since a heap that ran out once will run out again.

    sys.monitoring's RAISE event costs nothing until an exception is raised,
    and it sees a MemoryError raised in C code too.  Returns False when no
    monitoring tool id was free (another tool took them all).
    """
    monitoring = sys.monitoring
    for tool in (4, 3):
        try:
            monitoring.use_tool_id(tool, "deno-wsgi")
        except ValueError:
            continue
        break
    else:
        return False

    def on_raise(code, offset, exception):
        if isinstance(exception, MemoryError):
            report()

    monitoring.register_callback(tool, monitoring.events.RAISE, on_raise)
    monitoring.set_events(tool, monitoring.events.RAISE)
    return True


def add_paths(paths):
    """Put folders on sys.path, after the bridge's own, keeping their order."""
    for index, path in enumerate(paths):
        if path not in sys.path:
            sys.path.insert(1 + index, path)


def import_module(name):
    """Import a module for the group's ``preload`` (WSGIImportScript)."""
    importlib.import_module(name)


def change_directory(path):
    """Make ``path`` the working directory (mod_wsgi's ``home=``)."""
    os.chdir(path)


def script_module_name(script_path):
    """The module name mod_wsgi gives a script: derived from its path."""
    digest = hashlib.md5(script_path.encode("utf-8")).hexdigest()
    return "_mod_wsgi_" + digest


def load_script(script_path, callable_name):
    """Execute a WSGI script file as a module and return its callable."""
    directory = script_path.rsplit("/", 1)[0] or "/"
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = script_module_name(script_path)
    mtime = os.stat(script_path).st_mtime_ns
    module = sys.modules.get(name)
    # Like mod_wsgi, a script is loaded once per interpreter: two mounts of
    # one file in one application group share its module and its globals.
    if module is None or getattr(module, "__mtime__", None) != mtime:
        # A .wsgi suffix is no Python suffix, so name the loader explicitly.
        loader = importlib.machinery.SourceFileLoader(name, script_path)
        spec = importlib.util.spec_from_loader(name, loader)
        module = importlib.util.module_from_spec(spec)
        module.__mtime__ = mtime
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    application = getattr(module, callable_name, None)
    if application is None:
        raise LookupError(
            "WSGI script %s has no callable named %r; define it, or pass "
            "the right name in the 'callable' option"
            % (script_path, callable_name)
        )
    if not callable(application):
        raise TypeError(
            "%r in WSGI script %s is not callable" % (callable_name, script_path)
        )
    return application


class Application:
    """A loaded WSGI application and the environ keys it always sees."""

    def __init__(self, script_path, callable_name, base_environ_json, emit):
        self._emit = emit
        self.errors = LogStream(emit)
        with compat.ApplicationCall(emit):  # compat.py hook
            self.callable = load_script(script_path, callable_name)
        base = json.loads(base_environ_json)
        base["wsgi.version"] = (1, 0)
        base.setdefault("wsgi.multithread", False)
        base["wsgi.run_once"] = False
        base["wsgi.input_terminated"] = True
        base["wsgi.file_wrapper"] = FileWrapper
        self._base = base

    def _log(self, level, message):
        self._emit(level, message)

    def exchange(self, cgi, body_source, body):
        """Create the Exchange for one request from its CGI variables.

        ``cgi`` is keys and values joined with NUL, which no key or value
        can contain: splitting it is much cheaper than JSON in WebAssembly.
        """
        environ = self._base.copy()
        fields = iter(cgi.split("\0"))
        environ.update(zip(fields, fields))
        if body is not None:
            stream = InputStream(None, body.to_bytes())
        else:
            stream = InputStream(body_source)
        environ["wsgi.input"] = stream
        environ["wsgi.errors"] = self.errors
        return Exchange(self.callable, environ, self._log)


# Requests in flight, by the host's id: more than one when the group's
# threads let requests interleave while they wait.  The host drives them
# through the functions below, so it never holds proxies of Python objects.
_exchanges = {}
_threads = None  # python/threads.py, when the group has threads > 1


def use_threads(module):
    """Run each request as a thread of its own (python/threads.py)."""
    global _threads
    _threads = module


def _pack_head(status, headers, done):
    """Status, headers and the done flag as one NUL-separated str.

    One str crosses to JavaScript far more cheaply than a converted list;
    start_response() already refused NUL in a status or header.
    """
    fields = [("1" if done else "0") + status]
    for name, value in headers:
        fields.append(name)
        fields.append(value)
    head = "\0".join(fields)
    return "%d:%s" % (len(head), head)


def begin(request_id, application, cgi, body_source, body):
    """Start a request.

    Returns the packed head (see ``_pack_head``) with a small first chunk
    appended as latin-1 text, or ``(packed_head, chunk)`` for a large one:
    a tuple, not converted, so that JavaScript copies the chunk out of
    this interpreter's memory only once, where it is used.
    """
    exchange = application.exchange(cgi, body_source, body)
    # Every call of one request runs in the same Context object: a
    # ContextVar token (Flask's request and app contexts) can only be reset
    # in the Context that made it, and each call from JavaScript may start
    # in another one.
    exchange.context = contextvars.copy_context()
    _exchanges[request_id] = exchange
    try:
        status, headers, chunk, done = exchange.context.run(
            _start, exchange, request_id, application._log
        )
    except BaseException:
        finish(request_id)
        raise
    if done:
        _exchanges.pop(request_id, None)
    head = _pack_head(status, headers, done)
    if chunk is None:
        return head
    if len(chunk) <= _INLINE_CHUNK_LIMIT:
        return head + chunk.decode("latin-1")
    return (head, chunk)


def _start(exchange, request_id, log):
    if _threads is not None:
        exchange.thread = _threads.enter(request_id)
    return compat.call_application(log, exchange.start)  # compat.py hook


def _next(exchange):
    return compat.call_application(exchange._log, exchange.next)


def _close(exchange):
    compat.call_application(exchange._log, exchange.close)


def resume(request_id):
    """Continue a request; returns ``[chunk, done]``."""
    exchange = _exchanges.get(request_id)
    if exchange is None:
        return to_js([None, True])
    try:
        result = exchange.context.run(_next, exchange)
    except BaseException:
        finish(request_id)
        raise
    if result[1]:
        _exchanges.pop(request_id, None)
    return to_js(result)


def finish(request_id):
    """Close a request's iterable, if it is still open."""
    exchange = _exchanges.pop(request_id, None)
    if exchange is not None:
        exchange.context.run(_close, exchange)


def abort(request_id):
    """End a request that waits (threads only): see python/threads.py."""
    exchange = _exchanges.get(request_id)
    thread = getattr(exchange, "thread", None)
    if thread is not None:
        _threads.abort(thread)
