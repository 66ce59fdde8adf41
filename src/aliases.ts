/**
 * Static files served natively, like Apache's `Alias`: one file or a folder
 * tree at a URL path, with the HTTP of a first-class static server (types,
 * validators, 304 and 412, single and multiple ranges, HEAD, index files,
 * slash redirects) and no way out of the alias root.
 *
 * What a request may name is decided in two steps: the URL path is split
 * into segments and each one is decoded and checked on its own (no "..",
 * no encoded "/" or "\", no NUL, no dotfiles unless asked for), then each
 * step below the root is lstat-ed and, if one is a symlink, the path is
 * resolved with `realPath` and must still lie inside the alias root, so
 * symlinks cannot lead out of it either. Every refusal answers 404, like a
 * missing file, so probing tells nothing.
 *
 * Looking a file up (lstat, open, fstat) and reading a small file are
 * synchronous calls: on a local disk they are answered from the kernel's
 * caches in microseconds, while each asynchronous call costs a trip through
 * Deno's thread pool, which halved the requests per second for small
 * files. Large bodies are streamed asynchronously, so a slow client never
 * blocks the server. On a network file system where a lookup can take
 * milliseconds, those milliseconds block the event loop.
 *
 * @module
 */

import { basename, isAbsolute, join, resolve } from "node:path";
// @ts-types="npm:@types/mime-types@3.0.1"
import { contentType } from "npm:mime-types@3.0.2";
// @ts-types="npm:@types/range-parser@1.2.7"
import parseRange from "npm:range-parser@1.3.0";
// @ts-types="npm:@types/fresh@0.5.3"
import fresh from "npm:fresh@2.0.0";

/** How an alias serves its files. */
export interface AliasOptions {
  /**
   * The Cache-Control header sent with files and 304s, e.g.
   * "public, max-age=3600". Default: none, as Apache sends none without
   * mod_expires; browsers then revalidate with the ETag and Last-Modified.
   */
  cacheControl?: string;
  /**
   * The file served when a folder itself is asked for. Default
   * "index.html"; false serves no index file.
   */
  index?: string | false;
  /**
   * Serve files and folders whose name starts with ".". Default false:
   * they answer 404 as if they did not exist.
   */
  dotfiles?: boolean;
  /**
   * An HTML listing of a folder that has no index file. Default false: such
   * a folder answers 403, like Apache with `Options -Indexes`.
   */
  listDirectories?: boolean;
}

/** A validated alias, made by {@linkcode createAlias}. */
export interface StaticAlias {
  /** The URL path, as given ("/media/" or "/robots.txt"). */
  readonly urlPath: string;
  /** The absolute path of the file or folder, symlinks resolved. */
  readonly target: string;
  /** Whether the alias is one file or a folder tree. */
  readonly kind: "file" | "directory";
  /** The options, defaults filled in. */
  readonly options: Readonly<Required<AliasOptions>>;
}

/**
 * Bytes read from disk at a time while streaming a range: large enough that
 * a 1 MiB range costs few trips through JavaScript, small enough that a slow
 * client holds little memory.
 */
const READ_BLOCK_SIZE = 256 * 1024;
/**
 * Files up to this size are read with one read into a buffer of their exact
 * size and sent as bytes: the same memory as one block of a stream, without
 * the cost of setting a stream up. Larger files are streamed.
 */
const SMALL_FILE_SIZE = 64 * 1024;
/**
 * More ranges than this (after overlapping ones are merged) get the whole
 * file with 200, so that a header of many tiny ranges cannot make a
 * response many times larger than the file (Apache's `MaxRanges`).
 */
const MAX_RANGES = 64;

const KNOWN_OPTIONS = ["cacheControl", "index", "dotfiles", "listDirectories"];
const REASONS: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  412: "Precondition Failed",
};
const ALLOWED_METHODS = "GET, HEAD";

/**
 * Validates an alias: checks the URL path and the options, and resolves the
 * target, which must exist now. A URL path ending in "/" (Apache's
 * `Alias /media/ /srv/media/`) or a folder target makes a folder alias.
 * The URL path is written decoded ("/my files/"), without "%".
 *
 * @param urlPath The URL path served, starting with "/".
 * @param target The file or folder on disk, absolute or relative to the current directory.
 * @param options How files are served; see {@linkcode AliasOptions}.
 * @returns The alias, for {@linkcode matchAlias} and {@linkcode serveAlias}.
 * @throws {TypeError} When an argument or option is malformed.
 * @throws {Error} When the target cannot be read.
 *
 * @example A folder, with a cache lifetime
 * ```ts ignore
 * import { createAlias } from "./aliases.ts";
 * const media = createAlias("/media/", "/srv/site/media/", {
 *   cacheControl: "public, max-age=3600",
 * });
 * ```
 */
export function createAlias(
  urlPath: string,
  target: string,
  options: AliasOptions = {},
): StaticAlias {
  const where = `alias(${JSON.stringify(urlPath)})`;
  if (typeof urlPath !== "string" || !urlPath.startsWith("/")) {
    throw new TypeError(
      `${where}: the URL path must be a string starting with "/", like "/media/" or "/robots.txt"`,
    );
  }
  if (
    /[?#%\\]/.test(urlPath) || hasControlCharacter(urlPath) ||
    /\/\.\.?(\/|$)/.test(urlPath) ||
    /\/\/./.test(urlPath) || canonicalPath(urlPath) === null
  ) {
    throw new TypeError(
      `${where}: the URL path must be a plain decoded path: no "?", "#", "%", "\\", control characters, "." or ".." segments, or empty segments; write "/my files/" rather than "/my%20files/"`,
    );
  }
  if (typeof target !== "string" || target === "") {
    throw new TypeError(
      `${where}: the target must be the path of a file or folder, got ${
        JSON.stringify(target)
      }`,
    );
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `${where}: options must be an object such as { cacheControl: "max-age=3600" }`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(key)) {
      throw new TypeError(
        `${where}: unknown option "${key}"; the options are ${
          KNOWN_OPTIONS.join(", ")
        }`,
      );
    }
  }
  const cacheControl = options.cacheControl ?? "";
  if (typeof cacheControl !== "string" || hasControlCharacter(cacheControl)) {
    throw new TypeError(
      `${where}: option "cacheControl" must be a header value on one line, such as "public, max-age=3600"`,
    );
  }
  const index = options.index ?? "index.html";
  if (
    index !== false &&
    (typeof index !== "string" || index === "" || index === "." ||
      index === ".." || /[/\\\0]/.test(index))
  ) {
    throw new TypeError(
      `${where}: option "index" must be a file name such as "index.html" (no "/"), or false for none`,
    );
  }
  for (const flag of ["dotfiles", "listDirectories"] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== "boolean") {
      throw new TypeError(
        `${where}: option "${flag}" must be true or false, got ${
          JSON.stringify(options[flag])
        }`,
      );
    }
  }
  const absolute = isAbsolute(target) ? target : resolve(target);
  let real: string;
  let info: Deno.FileInfo;
  try {
    real = Deno.realPathSync(absolute);
    info = Deno.statSync(real);
  } catch (error) {
    throw new Error(
      `${where}: the target ${absolute} cannot be read (${
        (error as Error).message
      }); check that the path exists and that Deno may read it (--allow-read)`,
    );
  }
  if (!info.isFile && !info.isDirectory) {
    throw new TypeError(
      `${where}: the target ${absolute} is neither a file nor a folder; alias a regular file or a folder`,
    );
  }
  if (urlPath.endsWith("/") && !info.isDirectory) {
    throw new TypeError(
      `${where}: a URL path ending in "/" serves a folder, but ${absolute} is a file; drop the trailing "/" to alias one file`,
    );
  }
  const created: StaticAlias = {
    urlPath,
    target: real,
    kind: info.isDirectory ? "directory" : "file",
    options: {
      cacheControl,
      index,
      dotfiles: options.dotfiles ?? false,
      listDirectories: options.listDirectories ?? false,
    },
  };
  // A file's type comes from the name it was given, as in Apache, even if
  // that name is a symlink to a file named otherwise.
  if (info.isFile) fileNames.set(created, basename(absolute));
  return created;
}

/** The name a file alias's target was given, before symlinks were resolved. */
const fileNames = new WeakMap<StaticAlias, string>();

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Characters a URL path holds as they are. */
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * The canonical form of a URL path, so that equivalent spellings compare
 * equal (RFC 3986 §6.2.2): escapes of unreserved characters decoded
 * ("%61" is "a", "%2e" is "."), other escapes in upper case, raw characters
 * a URL cannot hold (spaces, non-ASCII) encoded as UTF-8. Reserved escapes
 * such as "%2F" stay escaped: they are data, not separators. Null when the
 * path has a malformed escape.
 */
function canonicalPath(path: string): string | null {
  if (PLAIN_PATH.test(path)) return path;
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return null;
  let encoded: string;
  try {
    encoded = path.replace(
      /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/gu,
      (character) => encodeURIComponent(character),
    );
  } catch {
    return null; // a lone surrogate
  }
  return encoded.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const character = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(character) ? character : `%${hex.toUpperCase()}`;
  });
}

/** Each alias's URL path in canonical form, without trailing "/". */
const matchKeys = new WeakMap<StaticAlias, string>();

function matchKeyOf(alias: StaticAlias): string {
  let key = matchKeys.get(alias);
  if (key === undefined) {
    key = canonicalPath(alias.urlPath) ?? alias.urlPath;
    if (alias.kind === "directory") key = key.replace(/\/+$/, "");
    matchKeys.set(alias, key);
  }
  return key;
}

/**
 * Whether an alias answers a request path, and for what. File aliases match
 * their URL path exactly; folder aliases match whole segments, so "/media"
 * and "/media/..." match "/media/" but "/mediax" does not. Paths are
 * compared in canonical form, so "/medi%61/" matches "/media/" too.
 *
 * @param alias An alias from {@linkcode createAlias}.
 * @param pathname The request's URL path, still percent-encoded, without the query.
 * @returns The rest of the path below the alias, still encoded ("" for the
 * alias itself, "/a/b.css" below a folder), or null when the alias does
 * not apply.
 *
 * @example
 * ```ts ignore
 * import { createAlias, matchAlias } from "./aliases.ts";
 * const media = createAlias("/media/", "/srv/site/media/");
 * matchAlias(media, "/media/css/site.css"); // "/css/site.css"
 * matchAlias(media, "/media"); // ""
 * matchAlias(media, "/mediax/site.css"); // null
 * ```
 */
export function matchAlias(
  alias: StaticAlias,
  pathname: string,
): string | null {
  // A malformed escape is compared as it is: if the alias matches, its
  // request is refused with 400 by serveAlias rather than passed on.
  const path = canonicalPath(pathname) ?? pathname;
  const key = matchKeyOf(alias);
  if (alias.kind === "file") return path === key ? "" : null;
  if (path === key) return "";
  return path.startsWith(key + "/") ? path.slice(key.length) : null;
}

/**
 * Answers a request for an alias: the file, a folder's index file or
 * listing, a redirect adding a folder's trailing slash, or an error. Only
 * GET and HEAD are served; other methods answer 405 with an Allow header.
 *
 * @param alias An alias from {@linkcode createAlias}.
 * @param request The request; its method, conditional and Range headers and URL are used.
 * @param remainder What {@linkcode matchAlias} returned for the request.
 * @returns The response, its body streamed from disk.
 *
 * @example A Deno server with one folder alias
 * ```ts ignore
 * import { createAlias, matchAlias, serveAlias } from "./aliases.ts";
 * const media = createAlias("/media/", "/srv/site/media/");
 * Deno.serve((request) => {
 *   const url = request.url;
 *   const pathname = url.slice(url.indexOf("/", url.indexOf("://") + 3))
 *     .split(/[?#]/)[0];
 *   const remainder = matchAlias(media, pathname);
 *   if (remainder === null) return new Response("not ours", { status: 404 });
 *   return serveAlias(media, request, remainder);
 * });
 * ```
 */
export async function serveAlias(
  alias: StaticAlias,
  request: Request,
  remainder: string,
): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return errorResponse(request, 405, { allow: ALLOWED_METHODS });
  }
  if (alias.kind === "file") {
    const opened = openRegularFile(alias.target);
    if (typeof opened === "number") return errorResponse(request, opened);
    return fileResponse(
      alias,
      request,
      opened.file,
      opened.info,
      fileNames.get(alias) ?? alias.target,
    );
  }
  const segments = pathSegments(remainder, alias.options.dotfiles);
  if (typeof segments === "number") return errorResponse(request, segments);
  const resolved = resolveInsideRoot(alias.target, segments);
  if (typeof resolved === "number") return errorResponse(request, resolved);
  const { path: real, info: statOfPath } = resolved;
  if (statOfPath.isDirectory) {
    return await directoryResponse(alias, request, real, remainder);
  }
  if (remainder.endsWith("/")) {
    // "file.css/" is not the file, as in Apache without AcceptPathInfo.
    return errorResponse(request, 404);
  }
  const opened = openRegularFile(real, statOfPath);
  if (typeof opened === "number") return errorResponse(request, opened);
  const { file, info } = opened;
  // The type comes from the name asked for, not from where a symlink leads.
  return fileResponse(alias, request, file, info, segments.at(-1)!);
}

/**
 * The file or folder that `segments` name below `root`, with its stat, or
 * the status refusing it. The segments cannot climb (see pathSegments), so
 * only a symlink can lead out of the root: each step is lstat-ed, and only
 * when one is a symlink is the whole path resolved with realPath and
 * checked to lie inside the root. Lstat-ing the few steps below the root
 * costs fewer system calls than realPath, which walks the root's own path
 * as well, on every request.
 */
function resolveInsideRoot(
  root: string,
  segments: string[],
): { path: string; info: Deno.FileInfo } | number {
  try {
    let path = root;
    let info: Deno.FileInfo | undefined;
    for (const segment of segments) {
      path = join(path, segment);
      info = Deno.lstatSync(path);
      if (info.isSymlink) {
        const real = Deno.realPathSync(join(root, ...segments));
        if (!isInside(root, real)) return 404;
        return { path: real, info: Deno.statSync(real) };
      }
    }
    return { path, info: info ?? Deno.statSync(root) };
  } catch (error) {
    return statusForFsError(error);
  }
}

/**
 * Decodes the remainder into path segments that can only name something
 * below the root, or the status refusing it: 400 for a malformed escape,
 * 404 for a "." or ".." segment, an encoded "/" or "\", a NUL, or a dotfile
 * that is not to be served.
 */
function pathSegments(remainder: string, dotfiles: boolean): string[] | number {
  const segments: string[] = [];
  for (const raw of remainder.split("/")) {
    if (raw === "") continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return 400;
    }
    if (
      segment === "." || segment === ".." || /[/\\\0]/.test(segment) ||
      (!dotfiles && segment.startsWith("."))
    ) {
      return 404;
    }
    segments.push(segment);
  }
  return segments;
}

function isInside(root: string, path: string): boolean {
  return path === root ||
    path.startsWith(root.endsWith("/") ? root : root + "/");
}

function statusForFsError(error: unknown): number {
  return error instanceof Deno.errors.PermissionDenied ? 403 : 404;
}

/**
 * Opens a regular file, or gives the status refusing it. The path is
 * stat-ed before it is opened because opening a FIFO waits for a writer,
 * which would stall the server; the open file is stat-ed again so that
 * the size and validators sent are those of the bytes read.
 */
function openRegularFile(
  path: string,
  statOfPath?: Deno.FileInfo,
): { file: Deno.FsFile; info: Deno.FileInfo } | number {
  let file: Deno.FsFile;
  try {
    if (!(statOfPath ?? Deno.statSync(path)).isFile) return 404;
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    return statusForFsError(error);
  }
  try {
    const info = file.statSync();
    if (info.isFile) return { file, info };
  } catch {
    // fall through to 404
  }
  file.close();
  return 404;
}

function errorResponse(
  request: Request,
  status: number,
  headers: Record<string, string> = {},
): Response {
  const body = `${status} ${REASONS[status] ?? ""}\n`;
  return new Response(request.method === "HEAD" ? null : body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/** Where the request path lies in canonical form: the alias's URL path and the remainder. */
function requestPath(alias: StaticAlias, remainder: string): string {
  // Repeated slashes are folded so that a redirect can never start with
  // "//", which a browser would take for another host.
  return (matchKeyOf(alias) + remainder).replace(/\/{2,}/g, "/") || "/";
}

function queryOf(url: string): string {
  const hash = url.indexOf("#");
  const withoutHash = hash < 0 ? url : url.slice(0, hash);
  const mark = withoutHash.indexOf("?");
  return mark < 0 ? "" : withoutHash.slice(mark);
}

async function directoryResponse(
  alias: StaticAlias,
  request: Request,
  folder: string,
  remainder: string,
): Promise<Response> {
  if (!remainder.endsWith("/")) {
    // Like Apache's mod_dir: relative links in the index resolve against
    // the folder only when its URL ends in "/".
    const location = `${requestPath(alias, remainder)}/${queryOf(request.url)}`;
    return new Response(null, { status: 301, headers: { location } });
  }
  if (alias.options.index) {
    const opened = openIndexFile(alias, folder);
    if (opened) {
      return fileResponse(
        alias,
        request,
        opened.file,
        opened.info,
        alias.options.index,
      );
    }
  }
  if (alias.options.listDirectories) {
    return await listingResponse(alias, request, folder, remainder);
  }
  return errorResponse(request, 403);
}

function openIndexFile(
  alias: StaticAlias,
  folder: string,
): { file: Deno.FsFile; info: Deno.FileInfo } | null {
  let real: string;
  try {
    real = Deno.realPathSync(join(folder, alias.options.index as string));
  } catch {
    return null;
  }
  if (!isInside(alias.target, real)) return null;
  const opened = openRegularFile(real);
  return typeof opened === "number" ? null : opened;
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function listingResponse(
  alias: StaticAlias,
  request: Request,
  folder: string,
  remainder: string,
): Promise<Response> {
  const entries: { name: string; isDirectory: boolean }[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (!alias.options.dotfiles && entry.name.startsWith(".")) continue;
    let isDirectory = entry.isDirectory;
    if (entry.isSymlink) {
      try {
        isDirectory = (await Deno.stat(join(folder, entry.name))).isDirectory;
      } catch {
        continue; // a dangling link leads nowhere
      }
    }
    entries.push({ name: entry.name, isDirectory });
  }
  entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const links = entries.map(({ name, isDirectory }) => {
    const suffix = isDirectory ? "/" : "";
    const href = escapeHtml(`./${encodeURIComponent(name)}${suffix}`);
    return `<li><a href="${href}">${escapeHtml(name + suffix)}</a></li>`;
  });
  if (remainder !== "/") links.unshift('<li><a href="../">../</a></li>');
  let shownPath = requestPath(alias, remainder);
  try {
    shownPath = decodeURIComponent(shownPath);
  } catch {
    // keep it encoded
  }
  const title = escapeHtml(`Index of ${shownPath}`);
  const html = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>
<ul>
${links.join("\n")}
</ul>
</body></html>
`;
  return new Response(request.method === "HEAD" ? null : html, {
    headers: { "content-type": "text/html; charset=utf-8" },
  });
}

/** A byte range, both ends included. */
interface ByteRange {
  start: number;
  end: number;
}

/**
 * The ranges a Range header asks for: null to send the whole file (no
 * header, another unit, malformed, or too many ranges), "unsatisfiable"
 * for 416, else one or more ranges. Parsing is range-parser's.
 */
function requestedRanges(
  header: string,
  size: number,
): ByteRange[] | "unsatisfiable" | null {
  // The unit is case-insensitive (RFC 9110 §14.1) but range-parser reports
  // it as written, so it is matched here and handed over as "bytes=".
  const unit = /^\s*bytes\s*=/i.exec(header);
  if (!unit) return null;
  const spec = header.slice(unit[0].length).replace(
    // A suffix longer than the file means the whole file (RFC 9110
    // §14.1.2), which range-parser 1.3.0 answers as unsatisfiable.
    /(^|,)(\s*)-\s*(\d+)/g,
    (match, separator: string, space: string, length: string) =>
      size > 0 && Number(length) > size ? `${separator}${space}0-` : match,
  );
  const ranges = parseRange(size, `bytes=${spec}`, { combine: true });
  if (ranges === -2) return null;
  if (ranges === -1) return "unsatisfiable";
  if (ranges.length > MAX_RANGES) return null;
  return ranges.map(({ start, end }) => ({ start, end }));
}

function etagMatches(list: string, etag: string, weak: boolean): boolean {
  if (list.trim() === "*") return true;
  const opaque = (tag: string) => weak ? tag.replace(/^W\//, "") : tag;
  return list.split(",").some((candidate) => {
    const tag = candidate.trim();
    return (weak || !tag.startsWith("W/")) && opaque(tag) === opaque(etag);
  });
}

/** Seconds since the epoch of an HTTP date, or NaN. */
function httpDateSeconds(value: string): number {
  return Math.floor(Date.parse(value) / 1000);
}

function fileResponse(
  alias: StaticAlias,
  request: Request,
  file: Deno.FsFile,
  info: Deno.FileInfo,
  name: string,
): Response {
  const size = info.size;
  const modified = info.mtime ?? new Date(0);
  const lastModified = modified.toUTCString();
  // Strong, from size and modification time as Apache's default
  // `FileETag MTime Size`: If-Range needs a strong validator, which the
  // `etag` package does not make for file stats.
  const etag = `"${size.toString(16)}-${modified.getTime().toString(16)}"`;
  const headers = new Headers({
    "accept-ranges": "bytes",
    "last-modified": lastModified,
    etag,
  });
  if (alias.options.cacheControl) {
    headers.set("cache-control", alias.options.cacheControl);
  }
  const requestHeaders = request.headers;

  // Preconditions in the order of RFC 9110 §13.2.2.
  const ifMatch = requestHeaders.get("if-match");
  const ifUnmodifiedSince = requestHeaders.get("if-unmodified-since");
  if (
    (ifMatch !== null && !etagMatches(ifMatch, etag, false)) ||
    (ifMatch === null && ifUnmodifiedSince !== null &&
      Math.floor(modified.getTime() / 1000) >
        httpDateSeconds(ifUnmodifiedSince))
  ) {
    file.close();
    return errorResponse(request, 412, Object.fromEntries(headers));
  }
  const ifNoneMatch = requestHeaders.get("if-none-match") ?? undefined;
  const ifModifiedSince = requestHeaders.get("if-modified-since") ??
    undefined;
  if (
    (ifNoneMatch !== undefined || ifModifiedSince !== undefined) &&
    fresh(
      {
        "if-none-match": ifNoneMatch,
        "if-modified-since": ifModifiedSince,
        "cache-control": requestHeaders.get("cache-control") ?? undefined,
      },
      { etag, "last-modified": lastModified },
    )
  ) {
    file.close();
    return new Response(null, { status: 304, headers });
  }

  const type = contentType(name) || "application/octet-stream";
  let ranges: ByteRange[] | "unsatisfiable" | null = null;
  const rangeHeader = requestHeaders.get("range");
  // Ranges are defined for GET only (RFC 9110 §14.2); HEAD gets the 200.
  if (
    rangeHeader !== null && request.method === "GET" &&
    rangeStillValid(requestHeaders.get("if-range"), etag, modified)
  ) {
    ranges = requestedRanges(rangeHeader, size);
  }
  if (ranges === "unsatisfiable") {
    file.close();
    headers.set("content-range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  if (ranges !== null && ranges.length > 1) {
    return multipartResponse(file, size, type, ranges, headers);
  }
  const range = ranges?.[0] ?? { start: 0, end: size - 1 };
  const length = range.end - range.start + 1;
  const status = ranges ? 206 : 200;
  headers.set("content-type", type);
  headers.set("content-length", String(length));
  if (ranges) {
    headers.set("content-range", `bytes ${range.start}-${range.end}/${size}`);
  }
  if (request.method === "HEAD" || length === 0) {
    file.close();
    return new Response(null, { status, headers });
  }
  if (length <= SMALL_FILE_SIZE) {
    const bytes = readExactly(file, range.start, length);
    headers.set("content-length", String(bytes.length));
    return new Response(bytes, { status, headers });
  }
  // The whole file: Deno's own file stream, which Deno.serve can send
  // without copying each block through JavaScript.
  if (!ranges) return new Response(file.readable, { status, headers });
  return new Response(
    streamOf(fileBlocks(file, range.start, length), () => file.close()),
    { status, headers },
  );
}

/** If-Range: the range applies only while the validator still matches exactly. */
function rangeStillValid(
  ifRange: string | null,
  etag: string,
  modified: Date,
): boolean {
  if (ifRange === null) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith("W/")) return value === etag;
  // A date is a strong validator only if the file had not changed for a
  // second when it was sent (RFC 9110 §8.8.2.2); otherwise it cannot
  // vouch for the bytes.
  return httpDateSeconds(value) === Math.floor(modified.getTime() / 1000) &&
    Date.now() - modified.getTime() >= 1000;
}

/** Reads `length` bytes from `start`, or fewer if the file shrank; closes the file. */
function readExactly(
  file: Deno.FsFile,
  start: number,
  length: number,
): Uint8Array<ArrayBuffer> {
  try {
    if (start > 0) file.seekSync(start, Deno.SeekMode.Start);
    const bytes = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const read = file.readSync(bytes.subarray(filled));
      if (read === null || read === 0) break;
      filled += read;
    }
    return filled === length ? bytes : bytes.slice(0, filled);
  } finally {
    file.close();
  }
}

/** Yields `length` bytes from `start` in blocks; the file stays open for more. */
async function* fileBlocks(
  file: Deno.FsFile,
  start: number,
  length: number,
): AsyncGenerator<Uint8Array> {
  await file.seek(start, Deno.SeekMode.Start);
  let remaining = length;
  while (remaining > 0) {
    const block = new Uint8Array(Math.min(READ_BLOCK_SIZE, remaining));
    const read = await file.read(block);
    if (read === null || read === 0) {
      throw new Error(
        `the file shrank while it was being sent (${remaining} bytes short)`,
      );
    }
    remaining -= read;
    yield block.subarray(0, read);
  }
}

/**
 * A byte stream pulled from a generator one block at a time, so a slow
 * client holds at most one block in memory. `onEnd` runs however the
 * stream ends: finished, failed, or cancelled by the client.
 */
function streamOf(
  blocks: AsyncGenerator<Uint8Array>,
  onEnd: () => void = () => {},
): ReadableStream<Uint8Array> {
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      onEnd();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await blocks.next();
        if (next.done) {
          end();
          controller.close();
        } else {
          controller.enqueue(next.value);
        }
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    async cancel() {
      end();
      await blocks.return(undefined);
    },
  }, { highWaterMark: 0 });
}

const encoder = new TextEncoder();

/** Several ranges as multipart/byteranges (RFC 9110 §14.6). */
function multipartResponse(
  file: Deno.FsFile,
  size: number,
  type: string,
  ranges: ByteRange[],
  headers: Headers,
): Response {
  const boundary = crypto.randomUUID().replaceAll("-", "");
  const partHeads = ranges.map(({ start, end }) =>
    encoder.encode(
      `\r\n--${boundary}\r\ncontent-type: ${type}\r\ncontent-range: bytes ${start}-${end}/${size}\r\n\r\n`,
    )
  );
  const closing = encoder.encode(`\r\n--${boundary}--\r\n`);
  const length = ranges.reduce(
    (total, { start, end }, i) => total + partHeads[i].length + end - start + 1,
    closing.length,
  );
  async function* parts(): AsyncGenerator<Uint8Array> {
    for (const [i, { start, end }] of ranges.entries()) {
      yield partHeads[i];
      yield* fileBlocks(file, start, end - start + 1);
    }
    yield closing;
  }
  headers.set("content-type", `multipart/byteranges; boundary=${boundary}`);
  headers.set("content-length", String(length));
  return new Response(
    streamOf(parts(), () => file.close()),
    { status: 206, headers },
  );
}
