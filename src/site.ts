/**
 * A whole server described as data: what the `start-server` command builds
 * from its options, what `from-apache` builds from an Apache configuration,
 * what `from-apache --print` turns into TypeScript, and what `serveSite()`
 * runs. Keeping the description apart from serving it lets each producer be
 * tested without a server, and keeps the two commands from drifting apart.
 *
 * @module
 */

import type { GroupOptions } from "./config.ts";
import type { LogLevel } from "./logging.ts";
import type { AliasOptions } from "./aliases.ts";
import type { MountOptions } from "./mount_options.ts";
import type { ConnectionLimits } from "./connection_limits.ts";
import type { HealthCheckOptions } from "./health.ts";

/**
 * One address the server listens on (`Listen`, `--host`/`--port`).
 *
 * @example
 * ```ts
 * import type { SiteListener } from "../mod.ts";
 * const https: SiteListener = {
 *   hostname: "0.0.0.0",
 *   port: 8443,
 *   tls: { certFile: "/etc/ssl/site.pem", keyFile: "/etc/ssl/site.key" },
 * };
 * ```
 */
export interface SiteListener {
  /** The address to bind, e.g. "127.0.0.1", "0.0.0.0", "::". */
  hostname: string;
  /** The TCP port; 0 picks a free one. */
  port: number;
  /** Serve HTTPS here (`SSLEngine on`, `--https-port`). */
  tls?: {
    /** PEM certificate chain file (`SSLCertificateFile`). */
    certFile: string;
    /** PEM private key file (`SSLCertificateKeyFile`). */
    keyFile: string;
  };
}

/**
 * One WSGI script at a URL prefix (`WSGIScriptAlias`).
 *
 * @example
 * ```ts
 * import type { SiteMount } from "../mod.ts";
 * const mount: SiteMount = {
 *   prefix: "/shop",
 *   script: "/srv/shop/app.wsgi",
 *   group: "shop",
 *   environ: { DATABASE_URL: "postgresql+pg8000://shop@127.0.0.1/shop" },
 * };
 * ```
 */
export interface SiteMount extends Omit<MountOptions, "group" | "pythonPath"> {
  /** The URL prefix, "/" for the root. */
  prefix: string;
  /** Path of the WSGI script file, or of the module with `application-type module`. */
  script: string;
  /** Name of a group in `SiteConfig.groups` (`WSGIProcessGroup`, `process-group=`). */
  group?: string;
}

/**
 * Static files at a URL path (`Alias`, `--url-alias`).
 *
 * @example
 * ```ts
 * import type { SiteAlias } from "../mod.ts";
 * const media: SiteAlias = { urlPath: "/media/", path: "/srv/shop/media/" };
 * ```
 */
export interface SiteAlias {
  /** The URL path (`Alias /media/ ...`); a trailing "/" serves a folder. */
  urlPath: string;
  /** A file or a folder. */
  path: string;
  /** How its files are served (cache headers, index, listing). */
  options?: AliasOptions;
}

/**
 * Something in the input that the site cannot honour, reported at start-up.
 *
 * @example
 * ```ts
 * import type { SiteWarning } from "../mod.ts";
 * const warning: SiteWarning = {
 *   file: "/etc/apache2/sites-enabled/shop.conf",
 *   line: 12,
 *   directive: "User",
 *   reason: "the server runs as the user that starts it",
 * };
 * ```
 */
export interface SiteWarning {
  /** The file the directive came from (or "command line"). */
  file: string;
  /** 1-based line number, 0 when not from a file. */
  line: number;
  /** The directive or option, e.g. "User" or "WSGIDaemonProcess user=". */
  directive: string;
  /** Why it is not honoured, and what to do instead if anything. */
  reason: string;
}

/**
 * A whole server: listeners, process groups, mounts, aliases and logs.
 *
 * @example
 * ```ts
 * import type { SiteConfig } from "../mod.ts";
 * const site: SiteConfig = {
 *   listeners: [{ hostname: "127.0.0.1", port: 8000 }],
 *   groups: { shop: { processes: 2, threads: 5 } },
 *   mounts: [{ prefix: "/", script: "/srv/shop/app.wsgi", group: "shop" }],
 *   aliases: [{ urlPath: "/robots.txt", path: "/srv/shop/robots.txt" }],
 *   logLevel: "info",
 *   warnings: [],
 * };
 * ```
 */
export interface SiteConfig {
  /** At least one. */
  listeners: SiteListener[];
  /** Process groups by name (`WSGIDaemonProcess`). */
  groups: Record<string, GroupOptions>;
  /** WSGI scripts at URL prefixes (`WSGIScriptAlias`). */
  mounts: SiteMount[];
  /** Static files at URL paths (`Alias`). */
  aliases: SiteAlias[];
  /** Access log: a file path, or "-" for stdout. Off when absent. */
  accessLog?: { path: string; format: "combined" | "json" };
  /** Error log: a file path, or "-" for stderr (the default). */
  errorLog?: string;
  /** `LogLevel`, `--log-level`. Default "warn", as mod_wsgi-express. */
  logLevel?: LogLevel;
  /** The status endpoint (`--server-status`). Off when absent. */
  serverStatus?: {
    /** URL path, default "/server-status". */
    path: string;
    /** Client addresses or CIDR ranges allowed; default loopback only. */
    allow?: string[];
  };
  /**
   * Connection timeouts and the maximum number of connections, for every
   * listener (`--header-timeout`, `--keep-alive-timeout`,
   * `--socket-timeout`, `--max-clients`; Apache's `RequestReadTimeout
   * header=`, `KeepAliveTimeout`, `Timeout`, `MaxRequestWorkers`).
   * Absent fields take mod_wsgi-express's defaults (see `serve()`).
   */
  connections?: ConnectionLimits;
  /**
   * Readiness and liveness endpoints (`--ready-path`, `--live-path`).
   * Off when absent.
   */
  healthChecks?: HealthCheckOptions;
  /**
   * Restart a group when a Python file under its scripts' folders,
   * `pythonPath` or `home` changes (mod_wsgi-express `--reload-on-changes`).
   */
  reloadOnChanges?: boolean;
  /** Things the producer could not honour; printed at start-up. */
  warnings: SiteWarning[];
}
