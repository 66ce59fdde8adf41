/**
 * Static files served natively, like Apache's `Alias`: a file or a folder
 * at a URL path, with the HTTP of a first-class static server (types,
 * validators, 304, ranges, HEAD, index files) and no way out of the root.
 *
 * @module
 */

import { isAbsolute, join, resolve } from "node:path";
// @ts-types="npm:@types/mime-types@3.0.1"
import { contentType } from "mime-types";
// @ts-types="npm:@types/range-parser@1.2.7"
import parseRange from "range-parser";
// @ts-types="npm:@types/fresh@0.5.3"
import fresh from "fresh";

/** How an alias serves its files. */
export interface AliasOptions {
  /** Cache-Control sent with files and 304s. Default: none, as Apache sends none. */
  cacheControl?: string;
  /** The file served for a folder request. Default "index.html"; false for none. */
  index?: string | false;
  /** Serve names that start with ".". Default false: they answer 404. */
  dotfiles?: boolean;
  /** An HTML listing for folders without an index file. Default false: 403, like `Options -Indexes`. */
  listDirectories?: boolean;
}

/** A validated alias, made by `alias()`. */
export interface StaticAlias {
  /** The URL path, as given ("/media/" or "/robots.txt"). */
  readonly urlPath: string;
  /** The absolute path of the file or folder, symlinks resolved. */
  readonly target: string;
  /** Whether the alias is one file or a folder tree. */
  readonly kind: "file" | "directory";
  /** The options with their defaults. */
  readonly options: Readonly<Required<AliasOptions>>;
}

const READ_BLOCK = 64 * 1024;

function text(
  status: number,
  body: string,
  headers: HeadersInit = {},
): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * Validates an alias. A URL path ending in "/" or a folder target makes a
 * folder alias; the target must exist.
 *
 * @example
 * ```ts ignore
 * import { createAlias } from "./aliases.ts";
 * const media = createAlias("/media/", "/srv/site/media/", { cacheControl: "max-age=3600" });
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
      `${where}: the URL path must start with "/", like "/media/" or "/robots.txt"`,
    );
  }
  if (/[?#%\\]|\/\.\.?(\/|$)/.test(urlPath)) {
    throw new TypeError(
      `${where}: the URL path must be plain, without "?", "#", "%", "\\" or dot segments`,
    );
  }
  if (typeof target !== "string" || target === "") {
    throw new TypeError(`${where}: the target must be a file or folder path`);
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where}: options must be an object`);
  }
  const known = ["cacheControl", "index", "dotfiles", "listDirectories"];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `${where}: unknown option "${key}"; known options are ${
          known.join(", ")
        }`,
      );
    }
  }
  const cacheControl = options.cacheControl ?? "";
  if (typeof cacheControl !== "string" || /[\r\n]/.test(cacheControl)) {
    throw new TypeError(
      `${where}: option "cacheControl" must be a header value such as "max-age=3600"`,
    );
  }
  const index = options.index ?? "index.html";
  if (
    index !== false &&
    (typeof index !== "string" || /[/\\]/.test(index) || index === "")
  ) {
    throw new TypeError(
      `${where}: option "index" must be a file name such as "index.html", or false`,
    );
  }
  for (const flag of ["dotfiles", "listDirectories"] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== "boolean") {
      throw new TypeError(`${where}: option "${flag}" must be true or false`);
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
      }); check the path`,
    );
  }
  if (urlPath.endsWith("/") && !info.isDirectory) {
    throw new TypeError(
      `${where}: a URL path ending in "/" needs a folder, but ${absolute} is a file`,
    );
  }
  return {
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
}

/**
 * The rest of `pathname` below the alias ("" for the alias itself), or null
 * when the alias does not apply. Folder aliases match whole segments.
 */
export function matchAlias(
  alias: StaticAlias,
  pathname: string,
): string | null {
  if (alias.kind === "file") {
    return pathname === alias.urlPath ? "" : null;
  }
  const base = alias.urlPath.replace(/\/+$/, "");
  if (pathname === base) return "";
  return pathname.startsWith(base + "/") ? pathname.slice(base.length) : null;
}

function isInside(root: string, path: string): boolean {
  return path === root ||
    path.startsWith(root.endsWith("/") ? root : root + "/");
}

/** Decodes the remainder into safe path segments, or null when refused. */
function segmentsOf(remainder: string, dotfiles: boolean): string[] | null {
  const segments: string[] = [];
  for (const raw of remainder.split("/")) {
    if (raw === "") continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (
      segment === "." || segment === ".." || /[/\\\0]/.test(segment) ||
      (!dotfiles && segment.startsWith("."))
    ) {
      return null;
    }
    segments.push(segment);
  }
  return segments;
}

/** Answers a request under an alias. */
export async function serveAlias(
  alias: StaticAlias,
  request: Request,
  remainder: string,
): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(405, "405 Method Not Allowed", { allow: "GET, HEAD" });
  }
  if (alias.kind === "file") {
    return await serveFile(alias, request, alias.target);
  }
  const segments = segmentsOf(remainder, alias.options.dotfiles);
  if (!segments) return text(404, "404 Not Found");
  let real: string;
  let info: Deno.FileInfo;
  try {
    real = await Deno.realPath(join(alias.target, ...segments));
    info = await Deno.stat(real);
  } catch {
    return text(404, "404 Not Found");
  }
  // A symlink may point anywhere: only what resolves inside the root counts.
  if (!isInside(alias.target, real)) return text(404, "404 Not Found");
  if (info.isDirectory) {
    const url = new URL(request.url);
    if (!url.pathname.endsWith("/")) {
      return new Response(null, {
        status: 301,
        headers: { location: `${url.pathname}/${url.search}` },
      });
    }
    if (alias.options.index) {
      const index = join(real, alias.options.index);
      try {
        const indexReal = await Deno.realPath(index);
        if (
          isInside(alias.target, indexReal) &&
          (await Deno.stat(indexReal)).isFile
        ) {
          return await serveFile(alias, request, indexReal);
        }
      } catch {
        // no index file: fall through to the listing or 403
      }
    }
    if (alias.options.listDirectories) {
      return await listDirectory(
        real,
        new URL(request.url).pathname,
        alias.options.dotfiles,
      );
    }
    return text(403, "403 Forbidden");
  }
  if (!info.isFile) return text(404, "404 Not Found");
  return await serveFile(alias, request, real);
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function listDirectory(
  folder: string,
  urlPath: string,
  dotfiles: boolean,
): Promise<Response> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (!dotfiles && entry.name.startsWith(".")) continue;
    names.push(entry.isDirectory ? `${entry.name}/` : entry.name);
  }
  names.sort();
  const items = names.map((name) =>
    `<li><a href="${
      escapeHtml(
        encodeURIComponent(name.replace(/\/$/, "")) +
          (name.endsWith("/") ? "/" : ""),
      )
    }">${escapeHtml(name)}</a></li>`
  ).join("\n");
  const title = escapeHtml(`Index of ${decodeURIComponent(urlPath)}`);
  return new Response(
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n<body><h1>${title}</h1>\n<ul>\n${items}\n</ul></body></html>\n`,
    { headers: { "content-type": "text/html; charset=utf-8" } },
  );
}

function fileStream(
  file: Deno.FsFile,
  start: number,
  length: number,
): ReadableStream<Uint8Array> {
  let remaining = length;
  let positioned = start === 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!positioned) {
          await file.seek(start, Deno.SeekMode.Start);
          positioned = true;
        }
        const buffer = new Uint8Array(Math.min(READ_BLOCK, remaining));
        const read = await file.read(buffer);
        if (read === null || read === 0) {
          file.close();
          controller.close();
          return;
        }
        remaining -= read;
        controller.enqueue(buffer.subarray(0, read));
        if (remaining <= 0) {
          file.close();
          controller.close();
        }
      } catch (error) {
        try {
          file.close();
        } catch {
          // already closed
        }
        controller.error(error);
      }
    },
    cancel() {
      try {
        file.close();
      } catch {
        // already closed
      }
    },
  }, { highWaterMark: 0 });
}

async function serveFile(
  alias: StaticAlias,
  request: Request,
  path: string,
): Promise<Response> {
  let file: Deno.FsFile;
  let info: Deno.FileInfo;
  try {
    file = await Deno.open(path, { read: true });
    info = await file.stat();
  } catch {
    return text(404, "404 Not Found");
  }
  const size = info.size;
  const modified = info.mtime ?? new Date(0);
  const headers = new Headers({
    "content-type": contentType(path.slice(path.lastIndexOf("/") + 1)) ||
      "application/octet-stream",
    "accept-ranges": "bytes",
    "last-modified": modified.toUTCString(),
    // Strong, from size and mtime like Apache's: If-Range needs a strong one.
    etag: `"${size.toString(16)}-${modified.getTime().toString(16)}"`,
  });
  if (alias.options.cacheControl) {
    headers.set("cache-control", alias.options.cacheControl);
  }
  const requestHeaders = {
    "if-none-match": request.headers.get("if-none-match") ?? undefined,
    "if-modified-since": request.headers.get("if-modified-since") ?? undefined,
  };
  if (
    (requestHeaders["if-none-match"] || requestHeaders["if-modified-since"]) &&
    fresh(requestHeaders, {
      etag: headers.get("etag")!,
      "last-modified": headers.get("last-modified")!,
    })
  ) {
    file.close();
    headers.delete("content-type");
    return new Response(null, { status: 304, headers });
  }
  let start = 0;
  let length = size;
  let status = 200;
  const range = request.headers.get("range");
  if (range && rangeStillValid(request.headers.get("if-range"), headers)) {
    const ranges = parseRange(size, range, { combine: true });
    if (ranges === -1) {
      file.close();
      headers.set("content-range", `bytes */${size}`);
      headers.delete("content-type");
      return new Response(null, { status: 416, headers });
    }
    // Malformed (-2), another unit, or several ranges: the whole file, 200.
    if (ranges !== -2 && ranges.type === "bytes" && ranges.length === 1) {
      start = ranges[0].start;
      length = ranges[0].end - ranges[0].start + 1;
      status = 206;
      headers.set("content-range", `bytes ${start}-${ranges[0].end}/${size}`);
    }
  }
  headers.set("content-length", String(length));
  if (request.method === "HEAD" || length === 0) {
    file.close();
    return new Response(null, { status, headers });
  }
  return new Response(fileStream(file, start, length), { status, headers });
}

/** If-Range: the range applies only while the ETag or date still matches. */
function rangeStillValid(ifRange: string | null, headers: Headers): boolean {
  if (!ifRange) return true;
  if (ifRange.includes('"')) return ifRange.trim() === headers.get("etag");
  const since = Date.parse(ifRange);
  const modified = Date.parse(headers.get("last-modified")!);
  return Number.isFinite(since) && modified <= since;
}
