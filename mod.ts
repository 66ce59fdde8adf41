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
 * alias(app, "/favicon.ico", "./examples/hello/static/favicon.ico");
 * mountWsgi(app, "/myapp", "./examples/hello/app.wsgi");
 * Deno.serve(app.fetch);
 * ```
 *
 * @module
 */

export { mountWsgi } from "./src/mounting.ts";
export { alias } from "./src/dispatch.ts";
export type { WsgiMount } from "./src/mounting.ts";
export type { MountOptions } from "./src/mount_options.ts";
export type { AliasOptions, StaticAlias } from "./src/aliases.ts";
export { defineGroup, getGroup, listGroups, shutdown } from "./src/groups.ts";
export { buildSnapshot } from "./src/snapshot_build.ts";
export type { ProcessGroup } from "./src/groups.ts";
export type { GroupOptions } from "./src/config.ts";
export type { GroupMetrics, LatencySnapshot } from "./src/metrics.ts";
export { mountServerStatus } from "./src/server_status.ts";
export type { ServerStatusOptions, StatusFormat } from "./src/server_status.ts";
export { createRouter } from "./src/router.ts";
export type { ConnectionInfo } from "./src/environ.ts";
export type {
  RouteContext,
  RouteHandler,
  Router,
  RouterLike,
} from "./src/router.ts";
export { configureLogging, formatLogEntry } from "./src/logging.ts";
export { withAccessLog } from "./src/access_log.ts";
export type {
  AccessLogFormat,
  AccessLogOptions,
  FetchHandler,
} from "./src/access_log.ts";
export type { LogEntry, LoggingOptions, LogLevel } from "./src/logging.ts";
export { serve } from "./src/connections.ts";
export type { GatewayServer, ServeOptions } from "./src/connections.ts";
export type { ConnectionLimits } from "./src/connection_limits.ts";
export { mountHealthChecks } from "./src/health.ts";
export type { HealthCheckOptions } from "./src/health.ts";
export { serveSite } from "./src/serve_site.ts";
export type { ServeSiteOptions, SiteServer } from "./src/serve_site.ts";
export type {
  SiteAlias,
  SiteConfig,
  SiteListener,
  SiteMount,
  SiteWarning,
} from "./src/site.ts";
export { siteFromApache } from "./src/apache/to_site.ts";
export type { ReadOptions as ApacheReadOptions } from "./src/apache/reader.ts";
