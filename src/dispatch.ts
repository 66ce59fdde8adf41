/**
 * What a router answers natively and where it hands requests on: aliases,
 * exact paths (the status endpoint) and WSGI mounts registered on it, and
 * the dispatcher that picks, for every request, the entry with the longest
 * matching prefix, whichever order they were added in.
 *
 * @module
 */

import {
  type AliasOptions,
  createAlias,
  matchAlias,
  serveAlias,
  type StaticAlias,
} from "./aliases.ts";
import { BadHeaderError, type ConnectionInfo } from "./environ.ts";
import { errorResponse } from "./responses.ts";
import type { RouteContext, RouteHandler, RouterLike } from "./router.ts";
import {
  BadTargetError,
  encodePath,
  parseTarget,
  type RequestTarget,
} from "./url_path.ts";

/** A native handler at one exact path, such as the status endpoint. */
export type PathHandler = (
  request: Request,
  info?: ConnectionInfo,
) => Response | Promise<Response>;

/** What a mount does with a request under its prefix (mounting.ts). */
export type MountHandler = (
  request: Request,
  target: RequestTarget,
  info?: ConnectionInfo,
) => Promise<Response>;

type Entry =
  | { kind: "alias"; prefix: string; alias: StaticAlias }
  | { kind: "path"; prefix: string; handle: PathHandler }
  | { kind: "mount"; prefix: string; serve: MountHandler };

const tables = new WeakMap<object, Entry[]>();

/** Checks a mount or path prefix; returns it without a trailing "/". */
export function normalizePrefix(where: string, prefix: unknown): string {
  if (typeof prefix !== "string" || !prefix.startsWith("/")) {
    throw new TypeError(
      `${where}: the prefix must be a URL path starting with "/", got ${
        JSON.stringify(prefix)
      }`,
    );
  }
  if (/[?#%\\]|\/\.\.?(\/|$)/.test(prefix)) {
    throw new TypeError(
      `${where}: the prefix ${
        JSON.stringify(prefix)
      } must be a plain path, without "?", "#", "%", "\\" or dot segments`,
    );
  }
  return prefix.replace(/\/+$/, "");
}

/** Checks that `router` can take routes (a Hono app or createRouter()). */
export function checkRouter(where: string, router: unknown): RouterLike {
  if (
    router === null || typeof router !== "object" ||
    typeof (router as RouterLike).all !== "function"
  ) {
    throw new TypeError(
      `${where}: the router must be a Hono app or have an all(path, handler) method, such as createRouter()`,
    );
  }
  return router as RouterLike;
}

function covers(prefix: string, path: string): boolean {
  return prefix === "" || path === prefix || path.startsWith(prefix + "/");
}

/** Adds an entry to the router's table and routes its prefix to the dispatcher. */
export function register(router: RouterLike, entry: Entry): void {
  let table = tables.get(router);
  if (!table) {
    table = [];
    tables.set(router, table);
  }
  table.push(entry);
  // Longest prefix first; on a tie an alias wins over a mount.
  table.sort((a, b) =>
    b.prefix.length - a.prefix.length ||
    (a.kind === "mount" ? 0 : -1) - (b.kind === "mount" ? 0 : -1)
  );
  const handler: RouteHandler = (context, next) =>
    dispatch(table, context, next);
  const base = entry.prefix || "/";
  router.all(base, handler);
  if (
    entry.kind === "mount" ||
    (entry.kind === "alias" && entry.alias.kind === "directory")
  ) {
    router.all(entry.prefix + "/*", handler);
  }
}

/** Apache's LimitRequestLine default: a longer request line gets 414. */
export const MAX_REQUEST_LINE = 8190;

/** The length of "METHOD /target HTTP/1.1" for a request. */
function requestLineLength(request: Request): number {
  const url = request.url;
  const start = url.indexOf("/", url.indexOf("://") + 3);
  const target = start < 0 ? 1 : url.length - start;
  return request.method.length + 1 + target + " HTTP/1.1".length;
}

async function dispatch(
  table: Entry[],
  context: RouteContext,
  next: () => Promise<void>,
): Promise<Response | void> {
  const request = context.req.raw;
  if (requestLineLength(request) > MAX_REQUEST_LINE) {
    return errorResponse(414, { method: request.method });
  }
  try {
    const target = parseTarget(request.url);
    const canonical = encodePath(target.path);
    for (const entry of table) {
      if (entry.kind === "path") {
        if (target.path === entry.prefix) {
          return entry.handle(request, context.env);
        }
      } else if (entry.kind === "alias") {
        const remainder = matchAlias(entry.alias, canonical);
        if (remainder !== null) {
          return serveAlias(entry.alias, request, remainder);
        }
      } else if (covers(entry.prefix, target.path)) {
        return await entry.serve(request, target, context.env);
      }
    }
  } catch (error) {
    // A target or a header that cannot be passed on: the client's mistake.
    if (error instanceof BadTargetError || error instanceof BadHeaderError) {
      return errorResponse(error.status, { method: request.method });
    }
    throw error;
  }
  await next();
}

/**
 * Serves a file or a folder at a URL path, natively, like Apache's `Alias`:
 * such requests never reach Python. An alias wins over a mount with a
 * shorter prefix, such as one at "/", whatever the order of the calls.
 *
 * @example favicon, robots.txt and media beside an app mounted at /
 * ```ts
 * import { alias, createRouter } from "../mod.ts";
 * const router = createRouter();
 * alias(router, "/favicon.ico", "./examples/hello/static/favicon.ico");
 * alias(router, "/media/", "./examples/hello/static/");
 * const icon = await router.fetch(new Request("http://x/favicon.ico"));
 * if (icon.status !== 200) throw new Error(`status ${icon.status}`);
 * await icon.body?.cancel();
 * ```
 */
export function alias(
  router: RouterLike,
  urlPath: string,
  target: string,
  options: AliasOptions = {},
): StaticAlias {
  const checkedRouter = checkRouter(
    `alias(${JSON.stringify(urlPath)})`,
    router,
  );
  const created = createAlias(urlPath, target, options);
  register(checkedRouter, {
    kind: "alias",
    prefix: created.urlPath.replace(/\/+$/, ""),
    alias: created,
  });
  return created;
}

/**
 * Serves `path` exactly with a native handler that wins over any mount
 * with a shorter prefix (a WSGI app at "/" included), whatever the order
 * of the calls, as Apache's `<Location /server-status>` does.
 */
export function registerPath(
  router: RouterLike,
  path: string,
  handle: PathHandler,
): void {
  const where = `registerPath(${JSON.stringify(path)})`;
  const prefix = normalizePrefix(where, path);
  register(checkRouter(where, router), { kind: "path", prefix, handle });
}
