/**
 * `serveSite()`: runs a whole SiteConfig (what `start-server` and
 * `from-apache` build): groups, mounts, aliases, logs, listeners, and the
 * start-up report.
 *
 * @module
 */

import { alias } from "./dispatch.ts";
import { mountWsgi, type WsgiMount } from "./mounting.ts";
import {
  defineGroup,
  leaveSignalsToCaller,
  onStopSignals,
  type ProcessGroup,
} from "./groups.ts";
import { configureLogging, formatLogEntry, type LogEntry } from "./logging.ts";
import { createRouter } from "./router.ts";
import { withAccessLog } from "./access_log.ts";
import { mountServerStatus } from "./server_status.ts";
import { mountHealthChecks } from "./health.ts";
import { type GatewayServer, serve } from "./connections.ts";
import type { SiteConfig, SiteWarning } from "./site.ts";
import { checkSite } from "./site_checks.ts";
import { type ChangeWatch, watchCode } from "./change_watch.ts";
import { dirname, resolve } from "node:path";

/**
 * How `serveSite()` reports and stops.
 *
 * @example
 * ```ts
 * import type { ServeSiteOptions } from "../mod.ts";
 * const lines: string[] = [];
 * const options: ServeSiteOptions = {
 *   print: (line) => lines.push(line),
 *   signals: false,
 *   gracefulTimeout: 5,
 * };
 * ```
 */
export interface ServeSiteOptions {
  /** Receives the start-up report, one line at a time. Default: stdout. */
  print?: (line: string) => void;
  /**
   * Stop gracefully on SIGINT and SIGTERM, then exit with 0.
   * Default true; tests and embedders that stop the site themselves pass false.
   */
  signals?: boolean;
  /**
   * Seconds that requests in flight get to finish once `stop()` is called
   * (the listeners close at once), before their connections are cut.
   * Default: the largest `gracefulTimeout` among the site's groups, or 10.
   */
  gracefulTimeout?: number;
}

/**
 * A running site, as `serveSite()` returns it.
 *
 * @example
 * ```ts
 * import type { SiteServer } from "../mod.ts";
 * async function restartAll(server: SiteServer): Promise<void> {
 *   for (const group of server.groups.values()) await group.restart();
 * }
 * ```
 */
export interface SiteServer {
  /** One URL per listener, e.g. "http://127.0.0.1:8000/". */
  readonly urls: string[];
  /** The site's groups, by name. */
  readonly groups: Map<string, ProcessGroup>;
  /** The mounted scripts, in the order of `site.mounts`. */
  readonly mounts: WsgiMount[];
  /** Resolves when every group's workers have started (or failed to). */
  readonly ready: Promise<void>;
  /** Resolves once the site has stopped. */
  readonly finished: Promise<void>;
  /**
   * Stops listening at once, closes idle connections, lets requests in
   * flight finish, stops the workers.
   */
  stop(): Promise<void>;
}

/** "file:line: directive: reason", like a compiler's message. */
export function formatWarning(warning: SiteWarning): string {
  const where = warning.line > 0
    ? `${warning.file}:${warning.line}`
    : warning.file;
  return `${where}: ${warning.directive}: ${warning.reason}`;
}

function errorLogSink(path: string): (entry: LogEntry) => void {
  const file = Deno.openSync(path, {
    append: true,
    create: true,
    write: true,
  });
  const encoder = new TextEncoder();
  return (entry) => {
    try {
      file.writeSync(encoder.encode(formatLogEntry(entry) + "\n"));
    } catch {
      // A full disk must never fail a request.
    }
  };
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

/**
 * Prints each worker of a group as it comes up, until all are there: a
 * worker that failed to start is replaced by the pool, and its replacement
 * is reported when it is up.
 */
async function reportWorkers(
  group: ProcessGroup,
  context: {
    started: number;
    print: (line: string) => void;
    stopped: () => boolean;
  },
): Promise<void> {
  const { started, print, stopped } = context;
  let shown = 0;
  const show = () => {
    const metrics = group.metrics();
    const up = metrics.workers.idle + metrics.workers.busy;
    const total = Math.max(metrics.processes, 1);
    const mode = metrics.mode === "embedded"
      ? "embedded interpreter"
      : "worker";
    for (; shown < Math.min(up, total); shown++) {
      print(
        `group ${group.name}: ${mode} ${shown + 1}/${total} ready after ${
          seconds(started)
        }`,
      );
    }
    return shown >= total;
  };
  while (!stopped()) {
    await group.ready();
    if (show()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function listenerUrl(address: Deno.NetAddr, tls: boolean): string {
  const { hostname, port } = address;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${tls ? "https" : "http"}://${host}:${port}/`;
}

/**
 * Runs a whole site described as data: defines its groups, mounts its
 * scripts, serves its aliases, opens its listeners (HTTPS where a listener
 * has `tls`), sets up its logs, prints its warnings and the URLs, then each
 * group's workers as they become ready and the time start-up took. Bad
 * fields throw at once, naming the field. The returned server stops
 * gracefully with `stop()` (and on SIGINT/SIGTERM unless told otherwise).
 *
 * @example A Python app at / with its static files, from a description
 * ```ts
 * import { serveSite, type SiteConfig } from "../mod.ts";
 * const site: SiteConfig = {
 *   listeners: [{ hostname: "127.0.0.1", port: 0 }],
 *   groups: { web: { processes: 0 } },
 *   mounts: [{ prefix: "/", script: "./examples/hello/app.wsgi", group: "web" }],
 *   aliases: [{ urlPath: "/robots.txt", path: "./examples/hello/static/robots.txt" }],
 *   warnings: [],
 * };
 * const server = await serveSite(site, { signals: false, print: () => {} });
 * await server.ready;
 * const response = await fetch(server.urls[0]);
 * if (response.status !== 200) throw new Error(`status ${response.status}`);
 * await response.body?.cancel();
 * await server.stop();
 * ```
 */
export async function serveSite(
  site: SiteConfig,
  options: ServeSiteOptions = {},
): Promise<SiteServer> {
  const started = performance.now();
  checkSite(site);
  const print = options.print ?? ((line: string) => console.log(line));
  for (const warning of site.warnings ?? []) {
    print(`warning: ${formatWarning(warning)}`);
  }
  configureLogging({
    level: site.logLevel ?? "warn",
    sink: site.errorLog && site.errorLog !== "-"
      ? errorLogSink(site.errorLog)
      : null,
  });

  // Before any group exists: our handler stops the listeners first, and the
  // groups' own would exit as soon as Python is done.
  if (options.signals !== false) leaveSignalsToCaller();
  const groups = new Map<string, ProcessGroup>();
  const servers: GatewayServer[] = [];
  try {
    for (const [name, groupOptions] of Object.entries(site.groups)) {
      groups.set(name, defineGroup(name, groupOptions));
    }
    const router = createRouter();
    if (site.serverStatus) {
      mountServerStatus(router, site.serverStatus.path, {
        allow: site.serverStatus.allow,
      });
    }
    if (site.healthChecks) mountHealthChecks(router, site.healthChecks);
    for (const entry of site.aliases) {
      alias(router, entry.urlPath, entry.path, entry.options);
    }
    const mounts = site.mounts.map((mount) => {
      const group = mount.group ?? "default";
      const wsgi = mountWsgi(router, mount.prefix, mount.script, {
        group,
        applicationGroup: mount.applicationGroup,
        callable: mount.callable,
        passAuthorization: mount.passAuthorization,
        environ: mount.environ,
        reload: mount.reload,
        limitRequestBody: mount.limitRequestBody,
        requestBuffering: mount.requestBuffering,
        bodyBufferSize: mount.bodyBufferSize,
        bodyBufferFolder: mount.bodyBufferFolder,
        bodyTimeout: mount.bodyTimeout,
        bodyMinRate: mount.bodyMinRate,
        trustedProxyHeaders: mount.trustedProxyHeaders,
        trustedProxies: mount.trustedProxies,
      });
      groups.set(wsgi.group.name, wsgi.group);
      return wsgi;
    });
    const handler = site.accessLog
      ? withAccessLog(router.fetch, {
        format: site.accessLog.format,
        path: site.accessLog.path,
      })
      : router.fetch;

    const tlsFiles = await Promise.all(
      site.listeners.map(async (listener) =>
        listener.tls && {
          cert: await Deno.readTextFile(listener.tls.certFile),
          key: await Deno.readTextFile(listener.tls.keyFile),
        }
      ),
    );
    site.listeners.forEach((listener, index) =>
      servers.push(serve({
        hostname: listener.hostname,
        port: listener.port,
        ...tlsFiles[index],
        ...site.connections,
        onListen() {},
      }, handler))
    );
    const urls = servers.map((server, index) =>
      listenerUrl(
        server.addr,
        Boolean(site.listeners[index].tls),
      )
    );
    for (const url of urls) print(`listening on ${url}`);
    for (const mount of mounts) {
      print(
        `mount ${
          mount.prefix || "/"
        } -> ${mount.scriptPath} (group ${mount.group.name})`,
      );
    }
    for (const entry of site.aliases) {
      print(`alias ${entry.urlPath} -> ${resolve(entry.path)}`);
    }

    const watches: ChangeWatch[] = site.reloadOnChanges
      ? watchGroups(site, { groups, print })
      : [];
    let stopping: Promise<void> | undefined;
    const ready = Promise.all(
      [...groups.values()].map((group) =>
        reportWorkers(group, {
          started,
          print,
          stopped: () => stopping !== undefined,
        })
      ),
    ).then(async () => {
      for (const mount of mounts) {
        await mount.ready().catch((error) => print(`error: ${error.message}`));
      }
      print(`ready after ${seconds(started)}`);
    });

    const grace = options.gracefulTimeout ?? Math.max(
      10,
      ...Object.values(site.groups).map((g) => g.gracefulTimeout ?? 0),
    );
    const stop = () =>
      stopping ??= (async () => {
        for (const watch of watches) watch.close();
        await Promise.all(servers.map((server) => server.stop(grace)));
        await Promise.all(
          [...groups.values()].map((group) => group.shutdown()),
        );
      })();
    if (options.signals !== false) {
      onStopSignals(
        stop,
        (signal) =>
          print(`${signal}: finishing requests in flight, then stopping`),
      );
    }
    return {
      urls,
      groups,
      mounts,
      ready,
      finished: Promise.all(servers.map((server) => server.finished)).then(
        () => stopping,
      ),
      stop,
    };
  } catch (error) {
    // Undo what was started (a later listener's port may be taken), and
    // only that: other groups of this process are not the site's.
    await Promise.all(servers.map((server) => server.stop(0)));
    await Promise.all([...groups.values()].map((group) => group.shutdown()));
    throw error;
  }
}

function watchGroups(
  site: SiteConfig,
  context: {
    groups: Map<string, ProcessGroup>;
    print: (line: string) => void;
  },
): ChangeWatch[] {
  const { groups, print } = context;
  const folders = new Map<string, Set<string>>();
  for (const mount of site.mounts) {
    const name = mount.group ?? "default";
    const options = site.groups[name] ?? {};
    const set = folders.get(name) ?? new Set<string>();
    set.add(dirname(resolve(mount.script)));
    for (const path of options.pythonPath ?? []) set.add(resolve(path));
    if (options.home) set.add(resolve(options.home));
    folders.set(name, set);
  }
  return [...folders].map(([name, set]) =>
    watchCode([...set], (path) => {
      print(`${path} changed: restarting group ${name}`);
      groups.get(name)?.restart().catch(() => {});
    })
  );
}
