/**
 * The CGI half of a WSGI environ, built from a Fetch API request: the
 * variables mod_wsgi would set, with PEP 3333's rules for native strings.
 *
 * @module
 */

import type { RequestTarget } from "./url_path.ts";

/**
 * What the server knows about the connection (Deno.serve's second argument).
 *
 * @example The client's address, as a WSGI app sees it in REMOTE_ADDR
 * ```ts
 * import { type ConnectionInfo, createRouter } from "../mod.ts";
 * const router = createRouter();
 * router.get("/ip", (c) => new Response(c.env?.remoteAddr?.hostname ?? "?"));
 * const info: ConnectionInfo = {
 *   remoteAddr: { hostname: "192.0.2.7", port: 51234, transport: "tcp" },
 * };
 * const response = await router.fetch(new Request("http://x/ip"), info);
 * if (await response.text() !== "192.0.2.7") throw new Error("wrong address");
 * ```
 */
export interface ConnectionInfo {
  /**
   * The request line's version ("HTTP/1.0", "HTTP/1.1") where the server
   * knows it: `serve()` does for plain HTTP, Deno.serve does not.
   */
  protocol?: string;
  /**
   * The client's address, as `Deno.ServeHandlerInfo.remoteAddr` gives it:
   * REMOTE_ADDR and REMOTE_PORT come from here. Absent when a request did
   * not come over a network connection (a test calling `fetch` directly).
   */
  remoteAddr?: { hostname?: string; port?: number; transport?: string };
}

/** A request header the gateway cannot pass on: the client gets 400. */
export class BadHeaderError extends Error {
  readonly status = 400;
  constructor(message: string) {
    super(message);
    this.name = "BadHeaderError";
  }
}

/**
 * The one Content-Length of a request. Fetch's Headers join repeated lines
 * with ", ", so two `Content-Length: 3` lines arrive as "3, 3". Apache
 * refuses any repeat, identical or not, with 400 (its length must be one
 * number), and so does the gateway: a length that two parsers might read
 * differently is how requests are smuggled past a proxy.
 */
export function singleContentLength(value: string): string {
  if (value.includes(",")) {
    throw new BadHeaderError(
      `Content-Length sent more than once: ${JSON.stringify(value)}`,
    );
  }
  const digits = value.trim();
  if (!/^\d+$/.test(digits)) {
    throw new BadHeaderError(
      `malformed Content-Length ${JSON.stringify(value)}`,
    );
  }
  // "03" and "3" are the same length; leading zeros are dropped.
  return digits.replace(/^0+(?=\d)/, "");
}

/**
 * The HTTP version of a request as mod_wsgi reports it in SERVER_PROTOCOL:
 * "HTTP/1.0", "HTTP/1.1" or "HTTP/2". `serve()`'s plain HTTP says which
 * (`info.protocol`); Deno.serve does not expose the version (its
 * Request has none, nor has the handler's info), so it is told by the one
 * header the protocols differ on: HTTP/1.1 requires `Host` (RFC 9112
 * 3.2), and HTTP/2 carries the authority in `:authority` instead, which
 * Deno does not turn into a Host header (measured with curl --http2 and
 * --http2-prior-knowledge). A request built in-process, without a
 * connection (`info`), counts as HTTP/1.1.
 */
export function protocolOf(request: Request, info?: ConnectionInfo): string {
  if (info?.protocol !== undefined) return info.protocol;
  if (info?.remoteAddr === undefined) return "HTTP/1.1";
  return request.headers.has("host") ? "HTTP/1.1" : "HTTP/2";
}

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
 * `X-Forwarded-For`. Throws BadHeaderError for a Content-Length that
 * names more than one length.
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
    if (name.includes("_") || HIDDEN.has(name)) continue;
    if (name === "content-type") {
      environ.CONTENT_TYPE = value;
      continue;
    }
    if (name === "content-length") {
      environ.CONTENT_LENGTH = singleContentLength(value);
      continue;
    }
    // Fetch's Headers already joined repeats with ", " (Cookie with "; ").
    environ["HTTP_" + name.toUpperCase().replaceAll("-", "_")] = value;
  }
  return environ;
}

/**
 * Request headers an app never sees, as under Apache: `Proxy` would become
 * HTTP_PROXY, which `requests` and `urllib` take for the proxy to use
 * (httpoxy, CVE-2016-5385), and `Proxy-Authorization` carries credentials
 * meant for a proxy, not for the app.
 */
const HIDDEN = new Set(["proxy", "proxy-authorization"]);

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
