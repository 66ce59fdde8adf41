"""What real applications need from Pyodide that it lacks or does differently.

The bridge (``wsgi_bridge.py``) calls ``install()`` once per interpreter and
runs every script load and every call into an application inside
``ApplicationCall(log)``.  Four things are taken care of here:

* Host-compiled extension modules.  A virtualenv or ``pip install --target``
  folder made on the host may hold ``.so``/``.pyd`` files built for the
  host's CPython; WebAssembly cannot load them.  Such imports fail with an
  error that names the package and says that it needs a Pyodide build, both
  in the exception and in the gateway's log.
* A running asyncio loop.  Pyodide always has one (its WebLoop), so Django
  and others believe that they were called from async code and refuse ORM
  calls (``SynchronousOnlyOperation``).  A WSGI application is synchronous
  code: while it runs, no loop is marked as running, as under mod_wsgi.
* ``hashlib.pbkdf2_hmac`` and ``hashlib.scrypt``, which Pyodide 314 lacks
  (they come from OpenSSL in CPython), are provided from the host's own
  ``node:crypto``, with a pure-Python fallback for ``pbkdf2_hmac``.
* ``threading.Thread.start()`` fails as in Pyodide, but says why and what
  to do instead.
"""

import asyncio.events
import hashlib
import importlib.machinery
import os
import re
import sys

# ---------------------------------------------------------------------------
# Host-compiled extension modules

_NATIVE_SUFFIXES = (".so", ".pyd", ".dylib")
_TAG_RE = re.compile(r"\.(cpython|cp|pypy)-?(\d)(\d+)")
_ELF_MACHINES = {
    0x03: "x86",
    0x28: "ARM",
    0x3E: "x86-64",
    0xB7: "AArch64",
    0xF3: "RISC-V",
    0x15: "PowerPC64",
    0x16: "s390x",
}
_DL_ERROR_RE = re.compile(
    r"dynamic (lib|module)|wasm magic|invalid ELF|not a dynamic", re.I
)


class HostExtensionError(ImportError):
    """An extension module was compiled for another platform than Pyodide's.

    Raised where loading such a file failed (an ``ImportError`` already).
    """

    def __init__(self, message, name, path, package):
        super().__init__(message, name=name, path=path)
        self.package = package


class HostExtensionNotFoundError(HostExtensionError, ModuleNotFoundError):
    """An import found only an extension module built for another platform.

    A ``ModuleNotFoundError``, as the import would be without this
    explanation, so code that falls back to pure Python when an accelerator
    is missing keeps working.
    """


# Extension files refused since the interpreter started, newest last, so
# that an error which hides the original one (``from . import fake`` turns
# it into "cannot import name") can still be explained.
_refused = []


def _describe_binary(path):
    """Which platform a native file was built for, from its first bytes."""
    try:
        with open(path, "rb") as file:
            head = file.read(20)
    except OSError:
        return None
    if head.startswith(b"\0asm"):
        return "WebAssembly"
    if head.startswith(b"\x7fELF") and len(head) >= 20:
        order = "little" if head[5] == 1 else "big"
        machine = int.from_bytes(head[18:20], order)
        return "ELF %s" % _ELF_MACHINES.get(machine, "machine %#x" % machine)
    if head[:4] in (
        b"\xcf\xfa\xed\xfe",
        b"\xce\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
        b"\xfe\xed\xfa\xcf",
    ):
        return "Mach-O (macOS)"
    if head.startswith(b"MZ"):
        return "PE (Windows)"
    return None


def _built_for(path):
    """'CPython 3.11, ELF x86-64' from a file's name tag and header."""
    parts = []
    match = _TAG_RE.search(os.path.basename(path))
    if match:
        implementation = "PyPy" if match.group(1) == "pypy" else "CPython"
        parts.append(
            "%s %s.%s" % (implementation, match.group(2), match.group(3))
        )
    binary = _describe_binary(path)
    if binary:
        parts.append(binary)
    return ", ".join(parts) or "another platform"


def _distribution_of(path):
    """(top-level package, 'Dist 1.2' or None) for a file under sys.path."""
    best = None
    for entry in sys.path:
        if entry and path.startswith(entry.rstrip("/") + "/"):
            if best is None or len(entry) > len(best):
                best = entry.rstrip("/")
    if best is None:
        return os.path.basename(os.path.dirname(path)), None
    relative = path[len(best) + 1 :]
    top = relative.split("/", 1)[0]
    if "/" not in relative:
        # A top-level extension module: "fast.cpython-311-....so" is "fast".
        top = top.split(".", 1)[0]
    try:
        import importlib.metadata as metadata

        for dist in metadata.distributions(path=[best]):
            names = (dist.read_text("top_level.txt") or "").split()
            files = dist.files or []
            if top in names or any(
                str(f).split("/", 1)[0].split(".", 1)[0] == top for f in files
            ):
                return top, "%s %s" % (dist.metadata["Name"], dist.version)
    except Exception:
        pass
    return top, None


# Host-compiled database drivers and the pure-Python ones that replace them.
_PURE_PYTHON_DRIVERS = {
    "psycopg2": "pg8000 (SQLAlchemy: postgresql+pg8000://)",
    "psycopg": "pg8000 (SQLAlchemy: postgresql+pg8000://)",
    "asyncpg": "pg8000 (SQLAlchemy: postgresql+pg8000://)",
    "MySQLdb": "PyMySQL (SQLAlchemy: mysql+pymysql://)",
    "mysqlclient": "PyMySQL (SQLAlchemy: mysql+pymysql://)",
    "hiredis": "redis-py without hiredis (pip install redis)",
}


def _driver_hint(package):
    replacement = _PURE_PYTHON_DRIVERS.get(package.split(".")[0])
    if replacement is None:
        return ""
    return " Use the pure-Python driver %s instead." % replacement


def _explain_file(module, path):
    package, dist = _distribution_of(path)
    owner = "package %r" % package
    if dist:
        owner += " (%s)" % dist
    return (
        "%s needs a Pyodide build: its extension module %s (%s) was compiled "
        "for the host (%s), and WebAssembly cannot load it. Install a wheel "
        "of it built for Pyodide (Python %d.%d, tagged pyodide_*_wasm32) into "
        "a pythonPath folder, or a pure-Python version of it; see "
        "docs/frameworks.md.%s"
        % (
            owner,
            module,
            path,
            _built_for(path),
            sys.version_info[0],
            sys.version_info[1],
            _driver_hint(package or module),
        ),
        package,
    )


def _is_host_binary(path):
    return _describe_binary(path) != "WebAssembly"


def _foreign_extension(directory, tail):
    """A file in ``directory``: module ``tail`` built for another host."""
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    # Names the normal finder tries ("fast.so", "fast.abi3.so", ...) are
    # not foreign; any other "fast.<tag>.so" is.
    own = {tail + suffix for suffix in importlib.machinery.EXTENSION_SUFFIXES}
    for name in names:
        if (
            name.startswith(tail + ".")
            and name.endswith(_NATIVE_SUFFIXES)
            and name not in own
        ):
            return os.path.join(directory, name)
    return None


class HostExtensionFinder:
    """Last on ``sys.meta_path``: asked when no other finder found a module.

    When the module exists only as an extension module compiled for another
    platform (``fast.cpython-311-x86_64-linux-gnu.so``), raise an error that
    says so instead of a bare "No module named".
    """

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        tail = fullname.rpartition(".")[2]
        for directory in path if path is not None else sys.path:
            if not isinstance(directory, str) or not directory:
                continue
            found = _foreign_extension(directory, tail)
            if found:
                message, package = _explain_file(fullname, found)
                _refused.append((fullname, message, package))
                del _refused[:-20]
                raise HostExtensionNotFoundError(
                    message, fullname, found, package
                )
        return None

    @classmethod
    def invalidate_caches(cls):
        pass


_original_create_module = importlib.machinery.ExtensionFileLoader.create_module


def _create_module(self, spec):
    """ExtensionFileLoader.create_module, explaining host-compiled files."""
    try:
        return _original_create_module(self, spec)
    except ImportError as error:
        path = getattr(self, "path", None) or spec.origin
        if not path or not _is_host_binary(path):
            raise
        message, package = _explain_file(spec.name, path)
        _refused.append((spec.name, message, package))
        del _refused[:-20]
        raise HostExtensionError(message, spec.name, path, package) from error


def _pyodide_package_of(name):
    """The Pyodide package providing import ``name``, if Pyodide ships one."""
    top = name.split(".", 1)[0]
    try:
        import pyodide_js

        mapping = pyodide_js._api._import_name_to_package_name
        package = mapping.get(top)
        return str(package) if package else None
    except Exception:
        return None


def _chain(error):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def explain(error):
    """Log lines explaining an import failure in ``error``'s chain, if any."""
    lines = []
    text = []
    for item in _chain(error):
        text.append(str(item))
        if isinstance(item, HostExtensionError):
            lines.append(str(item))
        elif isinstance(item, ImportError):
            path = getattr(item, "path", None) or ""
            if (
                path.endswith(_NATIVE_SUFFIXES)
                and _DL_ERROR_RE.search(str(item))
                and _is_host_binary(path)
            ):
                lines.append(_explain_file(item.name or path, path)[0])
            elif type(item) is ModuleNotFoundError and item.name:
                shipped = _pyodide_package_of(item.name)
                if shipped:
                    lines.append(
                        "No module named %r: Pyodide ships it as its package "
                        "%r, which is loaded from Pyodide's CDN, and that is "
                        "not reachable here. Install it into a pythonPath "
                        "folder instead: with pip if it has a pure-Python "
                        "wheel, else a Pyodide build of it (a wheel tagged "
                        "pyodide_*_wasm32); a host build cannot load."
                        % (item.name, shipped)
                    )
    # A refusal that an import statement turned into another error, such as
    # "cannot import name 'fast' from 'pkg'": both names are in the text.
    joined = "\n".join(text)
    for module, message, package in reversed(_refused):
        package_name, _, tail = module.rpartition(".")
        if (
            message not in lines
            and "'%s'" % tail in joined
            and (package_name or package) in joined
        ):
            lines.append(message)
    unique = []
    for line in lines:
        if line not in unique:
            unique.append(line)
    return unique


# ---------------------------------------------------------------------------
# Application calls: no running asyncio loop, explained import failures


class ApplicationCall:
    """Context manager around a call into application code.

    Marks no asyncio loop as running for its duration (restoring Pyodide's
    afterwards), and when an exception leaves it, logs what ``explain()``
    says about it, adding the same as a note to the traceback.
    """

    __slots__ = ("_log", "_loop")

    def __init__(self, log):
        self._log = log
        self._loop = None

    def __enter__(self):
        self._loop = asyncio.events._get_running_loop()
        if self._loop is not None:
            asyncio.events._set_running_loop(None)
        return self

    def __exit__(self, kind, error, traceback):
        if self._loop is not None:
            asyncio.events._set_running_loop(self._loop)
            self._loop = None
        if error is not None:
            _report(self._log, error)
        return False


def _report(log, error):
    """Logs, and notes on the traceback, what ``explain()`` says of it."""
    if isinstance(error, KeyboardInterrupt):
        return
    try:
        lines = explain(error)
    except Exception:
        lines = []
    shown = [str(item) for item in _chain(error)]
    shown += getattr(error, "__notes__", [])
    for line in lines:
        log("error", line)
        if line not in shown:
            error.add_note(line)


_get_running_loop = asyncio.events._get_running_loop
_set_running_loop = asyncio.events._set_running_loop


def call_application(log, function, *args):
    """``function(*args)`` as inside ``ApplicationCall(log)``.

    The same for every request without a context manager object and its
    two method calls, which cost microseconds in WebAssembly.
    """
    loop = _get_running_loop()
    if loop is not None:
        _set_running_loop(None)
    try:
        return function(*args)
    except BaseException as error:
        if loop is not None:
            _set_running_loop(loop)
            loop = None
        _report(log, error)
        raise
    finally:
        if loop is not None:
            _set_running_loop(loop)


# ---------------------------------------------------------------------------
# hashlib.pbkdf2_hmac and hashlib.scrypt from the host's node:crypto


class UnsupportedDigestmodError(ValueError):
    """No such hash algorithm (CPython's ``_hashlib`` error of that name)."""


_NODE_CRYPTO_JS = """
(() => {
  const crypto = globalThis.process?.getBuiltinModule?.("node:crypto");
  if (!crypto?.pbkdf2Sync) return undefined;
  const bytes = (out) =>
    new Uint8Array(out.buffer, out.byteOffset, out.length);
  return {
    pbkdf2: (password, salt, iterations, length, digest) =>
      bytes(crypto.pbkdf2Sync(password, salt, iterations, length, digest)),
    scrypt: (password, salt, length, n, r, p, maxmem) =>
      bytes(crypto.scryptSync(password, salt, length, { N: n, r, p, maxmem })),
    hashes: () => crypto.getHashes(),
    digest_size: (digest) => crypto.createHash(digest).digest().length,
  };
})()
"""

_node = None
_node_hashes = None


def _host_crypto():
    """node:crypto's functions, or None where the host has no node:crypto."""
    global _node, _node_hashes
    if _node is None:
        try:
            from pyodide.code import run_js

            _node = run_js(_NODE_CRYPTO_JS) or False
            if _node:
                _node_hashes = {str(name).lower() for name in _node.hashes()}
        except Exception:
            _node = False
    return _node or None


def _node_digest(name):
    """The node:crypto digest name for a hashlib name, or None."""
    lowered = name.lower()
    candidates = [lowered, lowered.replace("_", "-")]
    if lowered == "blake2b":
        candidates.insert(0, "blake2b512")
    elif lowered == "blake2s":
        candidates.insert(0, "blake2s256")
    for candidate in candidates:
        if _node_hashes and candidate in _node_hashes:
            return candidate
    return None


def _in_hashlib(name):
    try:
        hashlib.new(name)
        return True
    except (ValueError, TypeError):
        return False


def _as_bytes(value, what):
    if isinstance(value, str):
        raise TypeError(
            "a bytes-like object is required, not 'str' (%s)" % what
        )
    return bytes(memoryview(value))


_TRANS_36 = bytes(x ^ 0x36 for x in range(256))
_TRANS_5C = bytes(x ^ 0x5C for x in range(256))


def _pbkdf2_python(name, password, salt, iterations, dklen):
    """RFC 8018 PBKDF2 with hmac: slow, for hosts without node:crypto."""
    inner = hashlib.new(name)
    outer = hashlib.new(name)
    block = inner.block_size
    key = password
    if len(key) > block:
        key = hashlib.new(name, key).digest()
    key = key.ljust(block, b"\0")
    inner.update(key.translate(_TRANS_36))
    outer.update(key.translate(_TRANS_5C))

    def prf(message):
        i = inner.copy()
        o = outer.copy()
        i.update(message)
        o.update(i.digest())
        return o.digest()

    result = b""
    number = 1
    while len(result) < dklen:
        u = prf(salt + number.to_bytes(4, "big"))
        total = int.from_bytes(u, "big")
        for _ in range(iterations - 1):
            u = prf(u)
            total ^= int.from_bytes(u, "big")
        result += total.to_bytes(len(u), "big")
        number += 1
    return result[:dklen]


def pbkdf2_hmac(hash_name, password, salt, iterations, dklen=None):
    """``hashlib.pbkdf2_hmac`` for Pyodide, computed by the host's node:crypto.

    Same arguments, results and errors as CPython's.
    """
    if not isinstance(hash_name, str):
        raise TypeError(
            "pbkdf2_hmac() argument 'hash_name' must be str, not %s"
            % type(hash_name).__name__
        )
    password = _as_bytes(password, "password")
    salt = _as_bytes(salt, "salt")
    if not isinstance(iterations, int):
        raise TypeError(
            "'%s' object cannot be interpreted as an integer"
            % type(iterations).__name__
        )
    if iterations < 1:
        raise ValueError("iteration value must be greater than 0.")
    if iterations > 0xFFFFFFFF:
        raise OverflowError("iteration value is too great.")
    node = _host_crypto()
    digest = _node_digest(hash_name) if node else None
    try:
        size = hashlib.new(hash_name).digest_size
    except (ValueError, TypeError):
        # Not in Pyodide's hashlib (sha512_256, ripemd160, ...): node's?
        size = 0
        if digest is not None:
            try:
                size = node.digest_size(digest)
            except Exception:
                digest = None
        if not size:
            raise UnsupportedDigestmodError(
                "unsupported hash type %s" % hash_name
            ) from None
    if dklen is None:
        dklen = size
    if not isinstance(dklen, int):
        raise TypeError(
            "'%s' object cannot be interpreted as an integer"
            % type(dklen).__name__
        )
    if dklen < 1:
        raise ValueError("key length must be greater than 0.")
    if dklen > 0xFFFFFFFF:
        raise OverflowError("key length is too great.")
    if digest is not None:
        from pyodide.ffi import JsException, to_js

        try:
            return node.pbkdf2(
                to_js(password), to_js(salt), iterations, dklen, digest
            ).to_bytes()
        except JsException:
            # Listed by getHashes() but refused by pbkdf2 (Deno's node:crypto
            # has no blake2 there): never ask again, compute it here.
            _node_hashes.discard(digest)
    if size == 0 or not _in_hashlib(hash_name):
        raise UnsupportedDigestmodError("unsupported hash type %s" % hash_name)
    return _pbkdf2_python(hash_name, password, salt, iterations, dklen)


def scrypt(password, *, salt, n, r, p, maxmem=0, dklen=64):
    """``hashlib.scrypt`` for Pyodide, computed by the host's node:crypto."""
    password = _as_bytes(password, "password")
    salt = _as_bytes(salt, "salt")
    if n < 2 or n & (n - 1):
        raise ValueError("n must be a power of 2.")
    node = _host_crypto()
    if node is None:
        raise ValueError(
            "hashlib.scrypt needs node:crypto, which this host does not have"
        )
    from pyodide.ffi import to_js

    return node.scrypt(
        to_js(password),
        to_js(salt),
        dklen,
        n,
        r,
        p,
        maxmem or 32 * 1024 * 1024,
    ).to_bytes()


# ---------------------------------------------------------------------------
# Threads that outlive a request

_THREAD_MESSAGE = (
    "can't start new thread: Python runs in WebAssembly here, which has no "
    "OS threads. Work that must outlive the request belongs in a task queue "
    "or a separate service; for requests that wait on sockets or sleeps at "
    "the same time, give the group a threads option above 1."
)


def _explained_start(original):
    def start(self):
        try:
            return original(self)
        except RuntimeError as error:
            if "can't start new thread" not in str(error):
                raise
            raise RuntimeError(_THREAD_MESSAGE) from None

    start.__doc__ = original.__doc__
    return start


# ---------------------------------------------------------------------------

_installed = False


def install():
    """Put the finder, the loader hook and the hashlib functions in place."""
    global _installed
    if _installed:
        return
    _installed = True
    if not any(
        isinstance(f, type) and f is HostExtensionFinder for f in sys.meta_path
    ):
        sys.meta_path.append(HostExtensionFinder)
    importlib.machinery.ExtensionFileLoader.create_module = _create_module
    if not hasattr(hashlib, "pbkdf2_hmac"):
        hashlib.pbkdf2_hmac = pbkdf2_hmac
    if not hasattr(hashlib, "scrypt"):
        hashlib.scrypt = scrypt
    import threading

    threading.Thread.start = _explained_start(threading.Thread.start)
