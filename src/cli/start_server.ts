/**
 * `start-server SCRIPT [options]`: mod_wsgi-express's command, with its
 * option names and defaults, turned into a SiteConfig for `serveSite()`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { isAbsolute, resolve } from "node:path";
import { type GroupOptions, MEMORY_LIMIT_MIN } from "../config.ts";
import type { LogLevel } from "../logging.ts";
import type { SiteConfig, SiteMount } from "../site.ts";
import {
  helpText,
  joinPairs,
  PAIR_SEPARATOR as PAIR,
  UsageError,
} from "./usage.ts";
import { START_SERVER_OPTIONS } from "./start_server_options.ts";

export const START_SERVER_USAGE = "deno-wsgi start-server SCRIPT [options]";
export const START_SERVER_SUMMARY =
  "Serve a WSGI script (or module) on Pyodide, as mod_wsgi-express start-server does with Apache.";

/** The help text of start-server. */
export function startServerHelp(): string {
  return helpText(START_SERVER_OPTIONS, {
    usage: START_SERVER_USAGE,
    summary: START_SERVER_SUMMARY,
  });
}

type Values = Record<string, string | string[] | boolean | undefined>;

function integer(
  values: Values,
  name: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== "string" || !/^\d+$/.test(raw) || value > max) {
    throw new UsageError(
      `--${name} must be a whole number from 0 to ${
        max === 65535 ? max : "up"
      }, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function secondsOf(values: Values, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  if (typeof raw !== "string" || !/^\d+(\.\d+)?$/.test(raw)) {
    throw new UsageError(
      `--${name} must be a number of seconds, got ${JSON.stringify(raw)}`,
    );
  }
  return Number(raw);
}

function strings(values: Values, name: string): string[] {
  const raw = values[name];
  return Array.isArray(raw) ? raw : [];
}

const LOG_LEVELS: Record<string, LogLevel> = {
  debug: "debug",
  info: "info",
  notice: "info",
  warn: "warn",
  error: "error",
  crit: "error",
  alert: "error",
  emerg: "error",
};

function logLevelOf(raw: string | undefined): LogLevel {
  if (raw === undefined) return "warn";
  const level = /^trace[1-8]$/.test(raw) ? "debug" : LOG_LEVELS[raw];
  if (!level) {
    throw new UsageError(
      `--log-level must be one of debug, info, warn, error (or an Apache level), got ${
        JSON.stringify(raw)
      }`,
    );
  }
  return level;
}

/** The group's `snapshot` option from the --snapshot-* flags; undefined: the default. */
function snapshotOf(values: Values): GroupOptions["snapshot"] {
  const folder = values["snapshot-folder"] as string | undefined;
  const readOnly = values["snapshot-read-only"] === true;
  const script = values["snapshot-script"] === true;
  if (values["no-snapshot"]) {
    if (folder !== undefined || readOnly || script) {
      throw new UsageError(
        "--no-snapshot cannot be given with --snapshot-folder, --snapshot-read-only or --snapshot-script",
      );
    }
    return false;
  }
  if (readOnly && folder === undefined) {
    throw new UsageError(
      "--snapshot-read-only needs --snapshot-folder (the folder build-snapshot wrote)",
    );
  }
  if (folder === undefined && !script) return undefined;
  return {
    ...(folder !== undefined ? { folder: resolve(folder) } : {}),
    ...(readOnly ? { write: false } : {}),
    ...(script ? { script: true } : {}),
  };
}

/** `myapp.wsgi:application` → module and callable. */
function modulePath(entry: string, callable: string | undefined) {
  const [module, named] = entry.split(":");
  if (
    !/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/.test(module) ||
    (named !== undefined && !/^[A-Za-z_]\w*$/.test(named))
  ) {
    throw new UsageError(
      `with --application-type module, SCRIPT must be a module path such as myapp.wsgi or myapp.wsgi:application, got ${
        JSON.stringify(entry)
      }`,
    );
  }
  return { module, callable: named ?? callable ?? "application" };
}

/**
 * mod_wsgi-express writes a handler script for a module entry point; so do
 * we: a one-line .wsgi that imports the module as a module (so that its
 * package and relative imports work), in a fresh temporary folder.
 */
function moduleHandler(module: string, callable: string): string {
  const folder = Deno.makeTempDirSync({ prefix: "deno-wsgi-handler-" });
  const path = `${folder}/handler.wsgi`;
  Deno.writeTextFileSync(
    path,
    `# Written by deno-wsgi start-server --application-type module.\nimport importlib\n\napplication = getattr(importlib.import_module(${
      JSON.stringify(module)
    }), ${JSON.stringify(callable)})\n`,
  );
  return path;
}

/** What parsing start-server's arguments gives: the site, or help. */
export type StartServerPlan = { help: true } | {
  help: false;
  site: SiteConfig;
  temporary: string[];
};

/** Parses start-server's arguments into a SiteConfig; a mistake is a UsageError. */
export function planStartServer(args: string[]): StartServerPlan {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinPairs(args, START_SERVER_OPTIONS),
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(START_SERVER_OPTIONS.map((option) => [
        option.name,
        {
          type: option.values ? "string" as const : "boolean" as const,
          multiple: option.repeat ?? false,
        },
      ])),
    });
  } catch (error) {
    // node:util's messages are one line; drop its hint about "--" so it reads as ours.
    throw new UsageError(
      (error as Error).message.replace(/\. To specify a positional.*$/s, ""),
    );
  }
  const values = parsed.values as Values;
  if (values.help) return { help: true };
  if (parsed.positionals.length > 1) {
    throw new UsageError(
      `one SCRIPT only, got ${parsed.positionals.length}: ${
        parsed.positionals.join(" ")
      }`,
    );
  }
  const entry = (values["entry-point"] as string | undefined) ??
    parsed.positionals[0];
  if (entry === undefined) {
    throw new UsageError("a SCRIPT to serve is missing (see --help)");
  }
  const type = (values["application-type"] as string | undefined) ?? "script";
  if (type !== "script" && type !== "module") {
    throw new UsageError(
      `--application-type must be script or module, got ${
        JSON.stringify(type)
      }`,
    );
  }

  const temporary: string[] = [];
  const pythonPath = strings(values, "python-path").map((p) => resolve(p));
  let script: string;
  let callable = values["callable-object"] as string | undefined;
  let home = values["working-directory"] as string | undefined;
  if (type === "module") {
    const target = modulePath(entry, callable);
    home = resolve(home ?? Deno.cwd());
    pythonPath.unshift(home);
    script = moduleHandler(target.module, target.callable);
    temporary.push(resolve(script, ".."));
    callable = "application";
  } else {
    script = isAbsolute(entry) ? entry : resolve(entry);
    home = resolve(home ?? resolve(script, ".."));
  }

  const environ: Record<string, string> = {};
  for (const pair of strings(values, "setenv")) {
    const [key, value] = pair.split(PAIR);
    environ[key] = value;
  }
  for (const name of strings(values, "passenv")) {
    const value = Deno.env.get(name);
    if (value !== undefined) environ[name] = value;
  }

  const group: GroupOptions = {
    processes: integer(values, "processes", 1),
    threads: integer(values, "threads", 5),
    maximumRequests: integer(values, "maximum-requests", 0),
    requestTimeout: secondsOf(values, "request-timeout", 60),
    queueTimeout: secondsOf(values, "queue-timeout", 45),
    startupTimeout: secondsOf(values, "startup-timeout", 15),
    gracefulTimeout: secondsOf(values, "graceful-timeout", 15),
    pythonPath,
    home,
  };
  if (group.threads === 0) {
    throw new UsageError(`--threads must be 1 or more, got 0`);
  }
  // Set only when given, so that the site (and --print) names no default.
  if (values["memory-limit"] !== undefined) {
    const bytes = integer(values, "memory-limit", 0, 4 * 1024 ** 3);
    if (bytes !== 0 && bytes < MEMORY_LIMIT_MIN) {
      throw new UsageError(
        `--memory-limit must be 0 (no limit) or at least ${MEMORY_LIMIT_MIN} bytes (64 MiB: a worker's heap starts at 30-40 MiB), got ${bytes}`,
      );
    }
    group.memoryLimit = bytes;
  }
  if (values["restart-interval"] !== undefined) {
    group.restartInterval = secondsOf(values, "restart-interval", 0);
  }
  if (values["cpu-time-limit"] !== undefined) {
    group.cpuTimeLimit = secondsOf(values, "cpu-time-limit", 0);
    if (group.cpuTimeLimit > 0 && group.processes === 0) {
      throw new UsageError(
        "--cpu-time-limit needs workers of their own; --processes 0 runs Python embedded, on the server's CPU",
      );
    }
  }
  if (values["spare-workers"] !== undefined) {
    group.spareWorkers = integer(values, "spare-workers", 0);
    if (group.spareWorkers > 0 && group.processes === 0) {
      throw new UsageError(
        "--spare-workers needs workers of their own; --processes 0 runs Python embedded",
      );
    }
  }
  if (values["python-home"] !== undefined) {
    group.pythonHome = resolve(values["python-home"] as string);
  }
  const snapshot = snapshotOf(values);
  if (snapshot !== undefined) group.snapshot = snapshot;

  const mount: SiteMount = {
    prefix: (values["mount-point"] as string | undefined) ?? "/",
    script,
    group: "default",
    callable,
    environ,
    limitRequestBody: integer(values, "limit-request-body", 10485760),
    bodyTimeout: secondsOf(values, "body-timeout", 15),
    bodyMinRate: integer(values, "body-min-rate", 500),
    bodyBufferSize: integer(values, "body-buffer-size", 1048576),
  };
  if (values["no-request-buffering"] === true) mount.requestBuffering = false;
  const proxyHeaders = strings(values, "trust-proxy-header");
  const proxies = strings(values, "trust-proxy");
  if (proxyHeaders.length > 0) mount.trustedProxyHeaders = proxyHeaders;
  if (proxies.length > 0) mount.trustedProxies = proxies;
  if (!mount.prefix.startsWith("/")) {
    throw new UsageError(
      `--mount-point must start with "/", got ${JSON.stringify(mount.prefix)}`,
    );
  }

  const hostname = (values.host as string | undefined) ?? "0.0.0.0";
  const site: SiteConfig = {
    listeners: [],
    groups: { default: group },
    mounts: [mount],
    aliases: strings(values, "url-alias").map((pair) => {
      const [urlPath, path] = pair.split(PAIR);
      return { urlPath, path: resolve(path) };
    }),
    logLevel: logLevelOf(values["log-level"] as string | undefined),
    reloadOnChanges: values["reload-on-changes"] === true,
    warnings: [],
  };
  const httpsPort = values["https-port"] === undefined
    ? undefined
    : integer(values, "https-port", 0, 65535);
  const cert = values["ssl-certificate-file"] as string | undefined;
  const key = values["ssl-certificate-key-file"] as string | undefined;
  if (httpsPort !== undefined && (!cert || !key)) {
    throw new UsageError(
      "--https-port needs --ssl-certificate-file and --ssl-certificate-key-file",
    );
  }
  if (values["https-only"] && httpsPort === undefined) {
    throw new UsageError("--https-only needs --https-port");
  }
  if (!values["https-only"]) {
    site.listeners.push({
      hostname,
      port: integer(values, "port", 8000, 65535),
    });
  }
  if (httpsPort !== undefined) {
    site.listeners.push({
      hostname,
      port: httpsPort,
      tls: { certFile: resolve(cert!), keyFile: resolve(key!) },
    });
  }
  const format = values["access-log-format"] as string | undefined;
  if (format !== undefined && format !== "combined" && format !== "json") {
    throw new UsageError(
      `--access-log-format must be combined or json, got ${
        JSON.stringify(format)
      }`,
    );
  }
  const accessFile = values["access-log-file"] as string | undefined;
  if (
    values["access-log"] || accessFile !== undefined || format !== undefined
  ) {
    site.accessLog = {
      path: accessFile ?? "-",
      format: (format as "combined" | "json") ?? "combined",
    };
  }
  const errorLog = values["error-log-file"] as string | undefined;
  if (errorLog !== undefined) site.errorLog = errorLog;
  if (values["server-status"]) site.serverStatus = { path: "/server-status" };
  site.connections = {
    headerTimeout: secondsOf(values, "header-timeout", 15),
    keepAliveTimeout: secondsOf(values, "keep-alive-timeout", 2),
    socketTimeout: secondsOf(values, "socket-timeout", 60),
  };
  if (values["max-clients"] !== undefined) {
    site.connections.maxClients = integer(values, "max-clients", 0);
    if (site.connections.maxClients === 0) {
      throw new UsageError(`--max-clients must be 1 or more, got 0`);
    }
  }
  const ready = values["ready-path"] as string | undefined;
  const live = values["live-path"] as string | undefined;
  for (const [name, path] of [["ready-path", ready], ["live-path", live]]) {
    if (path !== undefined && !path.startsWith("/")) {
      throw new UsageError(
        `--${name} must start with "/", got ${JSON.stringify(path)}`,
      );
    }
  }
  if (ready !== undefined || live !== undefined) {
    site.healthChecks = {};
    if (ready !== undefined) site.healthChecks.ready = ready;
    if (live !== undefined) site.healthChecks.live = live;
  }
  return { help: false, site, temporary };
}
