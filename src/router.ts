/**
 * A small router for servers without Hono. It has Hono's `all(path,
 * handler)` shape, so mountWsgi() and alias() treat both alike, and a
 * `fetch(request, info)` for `Deno.serve(router.fetch)`.
 *
 * @module
 */

import type { ConnectionInfo } from "./environ.ts";
import { errorResponse } from "./responses.ts";
import { BadTargetError, encodePath, parseTarget } from "./url_path.ts";

/**
 * What a route handler receives: Hono's context, reduced to what we use.
 *
 * @example A handler that reads the client address
 * ```ts
 * import { createRouter, type RouteContext } from "../mod.ts";
 * const router = createRouter();
 * router.all("/ip", (c: RouteContext) =>
 *   new Response(c.env?.remoteAddr?.hostname ?? "unknown"));
 * ```
 */
export interface RouteContext {
  /** The request, as Hono's `c.req.raw`. */
  req: { raw: Request };
  /** Deno.serve's connection info, as Hono passes it on Deno. */
  env?: ConnectionInfo;
}

/**
 * A route handler in Hono's shape.
 *
 * @example
 * ```ts
 * import type { RouteHandler } from "../mod.ts";
 * const notFound: RouteHandler = async (_c, next) => {
 *   await next();
 *   return new Response("not found", { status: 404 });
 * };
 * ```
 */
export type RouteHandler = (
  context: RouteContext,
  next: () => Promise<void>,
) => Response | void | Promise<Response | void>;

/**
 * Any router that can register a handler for every method on a path.
 *
 * @example A router of your own
 * ```ts
 * import type { RouteHandler, RouterLike } from "../mod.ts";
 * const routes = new Map<string, RouteHandler>();
 * const router: RouterLike = { all: (path, handler) => routes.set(path, handler) };
 * ```
 */
export interface RouterLike {
  /** Registers `handler` for every method on `path` (Hono's `app.all`). */
  all(path: string, handler: RouteHandler): unknown;
}

interface Route {
  method?: string;
  pattern: string;
  handler: RouteHandler;
}

function matches(pattern: string, path: string): boolean {
  if (pattern.endsWith("/*")) {
    const base = pattern.slice(0, -2);
    return path === base || path.startsWith(base + "/");
  }
  return pattern === path;
}

/**
 * The router returned by `createRouter()`: routes are tried in the order
 * they were added; the first that answers wins.
 *
 * @example
 * ```ts
 * import { createRouter, type Router } from "../mod.ts";
 * const router: Router = createRouter().all("/health", () => new Response("ok"));
 * ```
 */
export class Router implements RouterLike {
  readonly #routes: Route[] = [];

  /** Adds a handler for every method. `path` is exact or ends with "/*". */
  all(path: string, handler: RouteHandler): this {
    this.#routes.push({ pattern: path, handler });
    return this;
  }

  /** Adds a handler for GET (and HEAD). */
  get(path: string, handler: RouteHandler): this {
    this.#routes.push({ method: "GET", pattern: path, handler });
    return this;
  }

  /** Adds a handler for POST. */
  post(path: string, handler: RouteHandler): this {
    this.#routes.push({ method: "POST", pattern: path, handler });
    return this;
  }

  /** Answers a request: pass it to `Deno.serve`. Unmatched paths get 404. */
  fetch = async (
    request: Request,
    info?: ConnectionInfo,
  ): Promise<Response> => {
    let path: string;
    try {
      // Route on the canonical path, dot segments resolved, as Apache does.
      path = encodePath(parseTarget(request.url).path);
    } catch (error) {
      if (!(error instanceof BadTargetError)) throw error;
      return errorResponse(error.status, { method: request.method });
    }
    const method = request.method === "HEAD" ? "GET" : request.method;
    const context: RouteContext = { req: { raw: request }, env: info };
    for (const route of this.#routes) {
      if (route.method && route.method !== method) continue;
      if (!matches(route.pattern, path)) continue;
      let passed = false;
      const response = await route.handler(context, () => {
        passed = true;
        return Promise.resolve();
      });
      if (response) return response;
      if (!passed) break;
    }
    return errorResponse(404, { method: request.method });
  };
}

/**
 * Creates a router for a server without Hono.
 *
 * @example TypeScript routes without Hono
 * ```ts
 * import { createRouter } from "../mod.ts";
 * const router = createRouter();
 * router.get("/api/ping", () => new Response("pong"));
 * const response = await router.fetch(new Request("http://x/api/ping"));
 * if (await response.text() !== "pong") throw new Error("no pong");
 * // Deno.serve(router.fetch); then mountWsgi(router, "/myapp", "app.wsgi")
 * ```
 */
export function createRouter(): Router {
  return new Router();
}
