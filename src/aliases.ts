/**
 * Static files served natively, like Apache's `Alias`: one file or a folder
 * tree at a URL path, with the HTTP of a first-class static server (types,
 * validators, 304 and 412, single and multiple ranges, HEAD, index files,
 * slash redirects) and no way out of the alias root.
 *
 * This module creates, matches and serves aliases; what a path may name is
 * `containment.ts`'s, the file's response `file_responses.ts`'s, and a
 * folder's listing `listing.ts`'s. Every refusal answers 404, like a
 * missing file, so probing tells nothing.
 *
 * @module
 */

import { basename, isAbsolute, resolve } from "node:path";
import { checkOptionNames, fail } from "./option_checks.ts";
import {
  pathSegments,
  realPathInside,
  resolveInsideRoot,
} from "./containment.ts";
import { fileResponse, openRegularFile } from "./file_responses.ts";
import { listFolder, listingPage } from "./listing.ts";
import { errorResponse } from "./responses.ts";
import { canonicalPath, hasControlCharacter, splitTarget } from "./url_path.ts";

/**
 * How an alias serves its files.
 *
 * @example Media cached for an hour, with a listing of the folder
 * ```ts
 * import { alias, type AliasOptions, createRouter } from "../mod.ts";
 * const options: AliasOptions = {
 *   cacheControl: "public, max-age=3600",
 *   listDirectories: true,
 * };
 * const router = createRouter();
 * alias(router, "/media/", "./examples/hello/static/media/", options);
 * const css = await router.fetch(new Request("http://x/media/site.css"));
 * if (css.headers.get("cache-control") !== "public, max-age=3600") {
 *   throw new Error("no Cache-Control");
 * }
 * await css.body?.cancel();
 * const listing = await router.fetch(new Request("http://x/media/"));
 * if (!(await listing.text()).includes("site.css")) throw new Error("no listing");
 * ```
 */
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

/**
 * A validated alias, as `alias()` returns it.
 *
 * @example What an alias resolved its target to
 * ```ts
 * import { alias, createRouter, type StaticAlias } from "../mod.ts";
 * const robots: StaticAlias = alias(
 *   createRouter(),
 *   "/robots.txt",
 *   "./examples/hello/static/robots.txt",
 * );
 * if (robots.kind !== "file") throw new Error(robots.kind);
 * console.log(robots.target); // the absolute path, symlinks resolved
 * ```
 */
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

const KNOWN_OPTIONS = ["cacheControl", "index", "dotfiles", "listDirectories"];
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
 * ```ts
 * import { createAlias } from "./aliases.ts";
 * const media = createAlias("/media/", "./examples/hello/static/media/", {
 *   cacheControl: "public, max-age=3600",
 * });
 * if (media.kind !== "directory") throw new Error(media.kind);
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
  checkOptionNames(options, { where, names: KNOWN_OPTIONS });
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
      throw fail(where, flag, "true or false", options[flag]);
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
 * ```ts
 * import { createAlias, matchAlias } from "./aliases.ts";
 * const media = createAlias("/media/", "./examples/hello/static/media/");
 * console.log(matchAlias(media, "/media/css/site.css")); // "/css/site.css"
 * console.log(matchAlias(media, "/media")); // ""
 * console.log(matchAlias(media, "/mediax/site.css")); // null
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
 * @example A fetch handler with one folder alias
 * ```ts
 * import { createAlias, matchAlias, serveAlias } from "./aliases.ts";
 * const media = createAlias("/media/", "./examples/hello/static/media/");
 * const handler = (request: Request) => {
 *   const remainder = matchAlias(media, new URL(request.url).pathname);
 *   if (remainder === null) return new Response("not ours", { status: 404 });
 *   return serveAlias(media, request, remainder);
 * };
 * const response = await handler(new Request("http://x/media/site.css"));
 * if (response.status !== 200) throw new Error(`status ${response.status}`);
 * await response.body?.cancel();
 * ```
 */
export async function serveAlias(
  alias: StaticAlias,
  request: Request,
  remainder: string,
): Promise<Response> {
  const method = request.method;
  if (method !== "GET" && method !== "HEAD") {
    return errorResponse(405, { headers: { allow: ALLOWED_METHODS }, method });
  }
  const { cacheControl, dotfiles } = alias.options;
  if (alias.kind === "file") {
    const opened = openRegularFile(alias.target);
    if (typeof opened === "number") return errorResponse(opened, { method });
    const name = fileNames.get(alias) ?? alias.target;
    return fileResponse(request, opened, { name, cacheControl });
  }
  const segments = pathSegments(remainder, dotfiles);
  if (typeof segments === "number") return errorResponse(segments, { method });
  const resolved = resolveInsideRoot(alias.target, segments);
  if (typeof resolved === "number") return errorResponse(resolved, { method });
  if (resolved.info.isDirectory) {
    return await directoryResponse(alias, request, resolved.path, remainder);
  }
  if (remainder.endsWith("/")) {
    // "file.css/" is not the file, as in Apache without AcceptPathInfo.
    return errorResponse(404, { method });
  }
  const opened = openRegularFile(resolved.path, resolved.info);
  if (typeof opened === "number") return errorResponse(opened, { method });
  // The type comes from the name asked for, not from where a symlink leads.
  return fileResponse(request, opened, {
    name: segments.at(-1)!,
    cacheControl,
  });
}

/** Where the request path lies in canonical form: the alias's URL path and the remainder. */
function requestPath(alias: StaticAlias, remainder: string): string {
  // Repeated slashes are folded so that a redirect can never start with
  // "//", which a browser would take for another host.
  return (matchKeyOf(alias) + remainder).replace(/\/{2,}/g, "/") || "/";
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
    const { query } = splitTarget(request.url);
    const location = `${requestPath(alias, remainder)}/${
      query ? `?${query}` : ""
    }`;
    return new Response(null, { status: 301, headers: { location } });
  }
  const { index, cacheControl, dotfiles, listDirectories } = alias.options;
  if (index) {
    const real = realPathInside(alias.target, folder, index);
    const opened = real === null ? 404 : openRegularFile(real);
    if (typeof opened !== "number") {
      return fileResponse(request, opened, { name: index, cacheControl });
    }
  }
  if (!listDirectories) {
    return errorResponse(403, { method: request.method });
  }
  const page = listingPage(await listFolder(folder, dotfiles), {
    urlPath: requestPath(alias, remainder),
    parent: remainder !== "/",
  });
  return new Response(request.method === "HEAD" ? null : page, {
    headers: { "content-type": "text/html; charset=utf-8" },
  });
}
