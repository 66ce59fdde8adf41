/**
 * Run Python WSGI apps (Flask, Django, Bottle, ...) inside a Deno or Hono
 * server, on Pyodide: what Apache's mod_wsgi does for Apache, without
 * Apache.
 *
 * @example Mount a WSGI script beside TypeScript routes
 * ```ts ignore
 * import { Hono } from "hono";
 * import { alias, mountWsgi } from "./mod.ts";
 *
 * const app = new Hono();
 * app.get("/api/ping", (c) => c.text("pong"));
 * alias(app, "/favicon.ico", "./examples/hello/favicon.ico");
 * mountWsgi(app, "/myapp", "./examples/hello/app.wsgi");
 * Deno.serve(app.fetch);
 * ```
 *
 * @module
 */

export { alias, mountWsgi } from "./src/mounting.ts";
export type { MountOptions, WsgiMount } from "./src/mounting.ts";
export type { AliasOptions, StaticAlias } from "./src/aliases.ts";
export { defineGroup, getGroup, listGroups, shutdown } from "./src/groups.ts";
export { buildSnapshot } from "./src/snapshot_build.ts";
export type { ProcessGroup } from "./src/groups.ts";
export type { GroupOptions } from "./src/config.ts";
export type { GroupMetrics } from "./src/metrics.ts";
export { createRouter } from "./src/router.ts";
export type { ConnectionInfo } from "./src/environ.ts";
export type {
  RouteContext,
  RouteHandler,
  Router,
  RouterLike,
} from "./src/router.ts";
export { configureLogging, formatLogEntry } from "./src/logging.ts";
export type { LogEntry, LoggingOptions, LogLevel } from "./src/logging.ts";
