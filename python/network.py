"""Sockets that fail the way CPython's do, and TLS that verifies.

Pyodide's NodeSockFS gives Python real TCP sockets, but every failed
connect arrives as ECONNREFUSED, connect ignores the socket's timeout, names
always "resolve" (to placeholder addresses), and its TLS upgrade neither
checks certificates nor waits for the handshake.  The host's connect
(src/sockets.ts) remembers what really happened on each socket; this module
asks it and raises what CPython would have raised.
"""

import errno
import importlib.util
import os
import socket
import sys

from pyodide.ffi import run_sync

_host = None


def _socket_of(sock):
    """The host's ClientSocket behind a Python socket, or None."""
    try:
        return _host.socketOf(sock.fileno())
    except Exception:
        return None


def _translate(sock, error, address):
    """Replace a connect error with the one that describes what happened."""
    client = _socket_of(sock)
    failure = getattr(client, "failure", None) if client is not None else None
    if failure is None:
        return error
    kind, message = failure.kind, failure.message
    if kind == "denied":
        return PermissionError(errno.EACCES, message)
    if kind == "dns":
        return socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    if kind == "timeout":
        return TimeoutError("timed out")
    return ConnectionRefusedError(errno.ECONNREFUSED, message)


def _wrap_connect(original):
    def connect(self, address):
        _host.setNextTimeout(self.gettimeout())
        try:
            return original(self, address)
        except ConnectionRefusedError as error:
            raise _translate(self, error, address) from None

    connect.__doc__ = original.__doc__
    return connect


def _wrap_connect_ex(original):
    def connect_ex(self, address):
        _host.setNextTimeout(self.gettimeout())
        code = original(self, address)
        if code == errno.ECONNREFUSED:
            error = _translate(self, None, address)
            if isinstance(error, OSError) and error.errno is not None:
                return error.errno
        return code

    connect_ex.__doc__ = original.__doc__
    return connect_ex


def _wrap_getaddrinfo(original):
    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name and not _is_address(name):
            # Emscripten "resolves" every name to a placeholder address;
            # ask the host's resolver so that a bad name fails here.
            try:
                found = run_sync(_host.lookup(name))
            except Exception:
                found = True  # cannot suspend here: let connect decide
            if not found:
                raise socket.gaierror(
                    socket.EAI_NONAME, "Name or service not known"
                )
        return original(host, port, *args, **kwargs)

    getaddrinfo.__doc__ = original.__doc__
    return getaddrinfo


def _is_address(name):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, name)
            return True
        except (OSError, ValueError):
            pass
    return False


def _ca_text(context):
    """The PEM text the context trusts instead of the default store."""
    data = getattr(context, "_ca_data", None)
    if data:
        return data
    path = os.environ.get("SSL_CERT_FILE")
    if path and os.path.isfile(path):
        with open(path) as file:
            return file.read()
    return None


def _refuse_common_name(context, value):
    if value:
        raise ValueError(
            "hostname_checks_common_name cannot be turned on: the gateway's "
            "TLS checks subjectAltName only"
        )


def _install_tls():
    import ssl

    def do_handshake(self, block=False):
        from pyodide_js._api import _nodeSock

        client = _socket_of(self)
        context = self.context
        if client is not None and context is not None:
            _host.requestTls(
                client,
                self.server_hostname,
                _ca_text(context),
                context.verify_mode != ssl.CERT_NONE,
                context.check_hostname,
            )
        result = run_sync(_nodeSock.startTls(self.fileno()))
        if result < 0:
            raise ssl.SSLError(1, "TLS handshake failed (errno=%d)" % -result)
        upgraded = _socket_of(self)
        handshake = getattr(upgraded, "handshake", None)
        failure = run_sync(handshake) if handshake is not None else None
        if failure is None:
            return
        if failure.kind == "verify":
            error = ssl.SSLCertVerificationError(
                1,
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                + failure.message,
            )
            error.verify_message = failure.message
            error.verify_code = 1
            raise error
        raise ssl.SSLError(1, "TLS handshake failed: " + failure.message)

    ssl.SSLSocket.do_handshake = do_handshake
    # Deno verifies names against subjectAltName only, never the subject's
    # common name: what OpenSSL's NEVER_CHECK_SUBJECT asks for.  urllib3 2
    # sets the flag to False on every context, which Pyodide's stub refuses.
    ssl.HAS_NEVER_CHECK_COMMON_NAME = True
    ssl.SSLContext.hostname_checks_common_name = property(
        lambda self: False, _refuse_common_name
    )
    original_create = ssl.SSLSocket._create.__func__

    def _create(cls, sock, *args, do_handshake_on_connect=True, **kwargs):
        # Pyodide's SSLSocket is a new socket object on the same descriptor,
        # which is non-blocking when the old one had a timeout: keep it, or
        # recv() raises BlockingIOError instead of waiting.
        timeout = sock.gettimeout()
        wrapped = original_create(
            cls, sock, *args, do_handshake_on_connect=False, **kwargs
        )
        wrapped.settimeout(timeout)
        if do_handshake_on_connect:
            wrapped.do_handshake()
        return wrapped

    ssl.SSLSocket._create = classmethod(_create)


class _Urllib3Sockets:
    """Keeps urllib3 on real sockets.

    On Emscripten urllib3 swaps its connections for fetch(), which ignores
    timeouts, certificates (``verify=``) and ``allowNet``; the gateway has
    real sockets, so its own classes are put back once it is imported.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "urllib3":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module):
            original_exec(module)
            _restore_urllib3()

        loader.exec_module = exec_module
        return spec


def _restore_urllib3():
    import urllib3.connection as connection
    import urllib3.connectionpool as pool

    plain = getattr(pool, "HTTPConnection", None)
    secure = getattr(pool, "HTTPSConnection", None)
    if plain is None or secure is None:
        return
    pool.HTTPConnectionPool.ConnectionCls = plain
    pool.HTTPSConnectionPool.ConnectionCls = secure
    connection.HTTPConnection = plain
    connection.HTTPSConnection = secure
    connection.VerifiedHTTPSConnection = secure


def install(host):
    """Route socket errors and TLS through the host (src/sockets.ts)."""
    global _host
    _host = host
    socket.socket.connect = _wrap_connect(socket.socket.connect)
    socket.socket.connect_ex = _wrap_connect_ex(socket.socket.connect_ex)
    socket.getaddrinfo = _wrap_getaddrinfo(socket.getaddrinfo)
    _install_tls()
    sys.meta_path.insert(0, _Urllib3Sockets())
    # Imported before this ran (in a snapshot's preload or script).
    if "urllib3" in sys.modules:
        _restore_urllib3()
