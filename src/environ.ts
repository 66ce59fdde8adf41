/**
 * The CGI half of a WSGI environ, built from a Fetch API request: the
 * variables mod_wsgi would set, with PEP 3333's rules for native strings.
 *
 * @module
 */

/** What the server knows about the connection (Deno.serve's second argument). */
export interface ConnectionInfo {
  remoteAddr?: { hostname?: string; port?: number; transport?: string };
}

/** A request's path, split and decoded the way the gateway routes it. */
export interface RequestTarget {
  /** The path as sent, still percent-encoded. */
  rawPath: string;
  /** The query string as sent, without "?". */
  query: string;
  /**
   * The path with every percent-escape decoded to a byte and each byte
   * mapped to one character (latin-1), after dot segments are resolved.
   */
  path: string;
}

/** The request target could not be mapped to a path; carries an HTTP status. */
export class BadTargetError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "BadTargetError";
    this.status = status;
  }
}

const HEX = /^[0-9A-Fa-f]{2}$/;

/**
 * Decodes percent-escapes byte by byte and maps each byte to a latin-1
 * character, as PEP 3333 wants for PATH_INFO. Encoded slashes and NUL bytes
 * are refused with 404, as Apache does with AllowEncodedSlashes Off.
 */
export function decodePathLatin1(rawPath: string): string {
  if (!rawPath.includes("%")) return rawPath;
  let out = "";
  for (let i = 0; i < rawPath.length; i++) {
    const ch = rawPath[i];
    if (ch === "%" && HEX.test(rawPath.slice(i + 1, i + 3))) {
      const byte = parseInt(rawPath.slice(i + 1, i + 3), 16);
      if (byte === 0x2f || byte === 0x00) {
        throw new BadTargetError(
          404,
          "encoded slash or NUL byte in the request path",
        );
      }
      out += String.fromCharCode(byte);
      i += 2;
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * Resolves "." and ".." segments like Apache does before it maps a URL; a
 * path that climbs above the root is refused with 400.
 */
export function removeDotSegments(path: string): string {
  if (!path.includes("/.")) return path;
  const segments = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i];
    const last = i === segments.length - 1;
    if (segment === ".") {
      if (last) out.push("");
    } else if (segment === "..") {
      if (out.length === 0) {
        throw new BadTargetError(400, "the request path climbs above the root");
      }
      out.pop();
      if (last) out.push("");
    } else {
      out.push(segment);
    }
  }
  return "/" + out.join("/");
}

const PATH_SAFE = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const PATH_CHAR_SAFE = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/;

/** Percent-encodes a latin-1 path back into a canonical URL path. */
export function encodePath(path: string): string {
  if (PATH_SAFE.test(path)) return path;
  let out = "";
  for (const ch of path) {
    out += PATH_CHAR_SAFE.test(ch)
      ? ch
      : "%" + ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Splits and decodes the target of a request. */
export function parseTarget(url: string): RequestTarget {
  // request.url keeps the path as the client sent it; new URL() would fold
  // "%2e%2e" into "..", so take the path apart by hand.
  const afterScheme = url.indexOf("://");
  const pathStart = url.indexOf("/", afterScheme + 3);
  let target = pathStart < 0 ? "/" : url.slice(pathStart);
  const hash = target.indexOf("#");
  if (hash >= 0) target = target.slice(0, hash);
  const mark = target.indexOf("?");
  const rawPath = mark < 0 ? target : target.slice(0, mark);
  const query = mark < 0 ? "" : target.slice(mark + 1);
  return { rawPath, query, path: removeDotSegments(decodePathLatin1(rawPath)) };
}

/**
 * The HTTP version of a request as mod_wsgi reports it in SERVER_PROTOCOL:
 * "HTTP/1.1" or "HTTP/2". Deno.serve does not expose the version (its
 * Request has none, nor has the handler's info), so it is told by the one
 * header the protocols differ on: HTTP/1.1 requires `Host` (RFC 9112
 * 3.2), and HTTP/2 carries the authority in `:authority` instead, which
 * Deno does not turn into a Host header (measured with curl --http2 and
 * --http2-prior-knowledge). A request built in-process, without a
 * connection (`info`), counts as HTTP/1.1.
 */
export function protocolOf(request: Request, info?: ConnectionInfo): string {
  if (info?.remoteAddr === undefined) return "HTTP/1.1";
  return request.headers.has("host") ? "HTTP/1.1" : "HTTP/2";
}

/** Request header names that are not HTTP_* variables. */
const NOT_HTTP = new Set(["content-type", "content-length"]);

function splitHost(host: string): [string, string | undefined] {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    const port = host.slice(end + 1).startsWith(":")
      ? host.slice(end + 2)
      : undefined;
    return [host.slice(0, end + 1), port];
  }
  const colon = host.lastIndexOf(":");
  return colon < 0 ? [host, undefined] : [
    host.slice(0, colon),
    host.slice(colon + 1),
  ];
}

/** Everything environ needs that the mount, not the request, decides. */
export interface MountContext {
  /** SCRIPT_NAME: the mount prefix, "" at "/". */
  scriptName: string;
}

/**
 * Builds the CGI variables of a request's environ. Header names containing
 * "_" are dropped, as mod_wsgi does, so `X_Forwarded_For` cannot pose as
 * `X-Forwarded-For`.
 */
export function buildCgiVariables(
  request: Request,
  target: RequestTarget,
  pathInfo: string,
  mount: MountContext,
  info?: ConnectionInfo,
): Record<string, string> {
  const scheme = request.url.startsWith("https:") ? "https" : "http";
  const environ: Record<string, string> = {
    REQUEST_METHOD: request.method,
    SCRIPT_NAME: mount.scriptName,
    PATH_INFO: pathInfo,
    QUERY_STRING: target.query,
    REQUEST_URI: target.query
      ? `${target.rawPath}?${target.query}`
      : target.rawPath,
    SERVER_PROTOCOL: protocolOf(request, info),
    SERVER_SOFTWARE: "deno-wsgi",
    GATEWAY_INTERFACE: "CGI/1.1",
    REQUEST_SCHEME: scheme,
    "wsgi.url_scheme": scheme,
  };
  if (scheme === "https") environ.HTTPS = "1";
  const host = request.headers.get("host") ??
    new URL(request.url).host;
  const [serverName, port] = splitHost(host);
  environ.SERVER_NAME = serverName;
  environ.SERVER_PORT = port ?? (scheme === "https" ? "443" : "80");
  // HTTP/2 carries the host in :authority, which reaches us in the URL
  // only; Apache's mod_http2 gives the app a Host header from it too.
  if (environ.SERVER_PROTOCOL === "HTTP/2") environ.HTTP_HOST = host;
  const remote = info?.remoteAddr;
  if (remote?.hostname !== undefined) environ.REMOTE_ADDR = remote.hostname;
  if (remote?.port !== undefined) environ.REMOTE_PORT = String(remote.port);
  for (const [name, value] of request.headers) {
    if (name.includes("_")) continue;
    if (NOT_HTTP.has(name)) {
      environ[name === "content-type" ? "CONTENT_TYPE" : "CONTENT_LENGTH"] =
        value;
      continue;
    }
    // Fetch's Headers already joined repeats with ", " (Cookie with "; ").
    environ["HTTP_" + name.toUpperCase().replaceAll("-", "_")] = value;
  }
  return environ;
}

/**
 * Joins CGI variables into the form python/wsgi_bridge.py reads: keys and
 * values separated by NUL, which neither can contain (HTTP forbids it in
 * header values and targets, and mountWsgi refuses it in `environ`).
 */
export function packEnviron(variables: Record<string, string>): string {
  let packed = "";
  for (const key in variables) {
    packed += packed
      ? `\0${key}\0${variables[key]}`
      : `${key}\0${variables[key]}`;
  }
  return packed;
}
