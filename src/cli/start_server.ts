/**
 * `start-server SCRIPT [options]`: mod_wsgi-express's command, with its
 * option names and defaults, turned into a SiteConfig for `serveSite()`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { isAbsolute, resolve } from "node:path";
import type { GroupOptions } from "../config.ts";
import type { LogLevel } from "../logging.ts";
import type { SiteConfig, SiteMount } from "../site.ts";
import { type CliOption, helpText, joinPairs, UsageError } from "./usage.ts";

const PAIR = "\u0000";

/** Every option of start-server; the parser and `--help` both read this table. */
export const START_SERVER_OPTIONS: CliOption[] = [
  {
    name: "host",
    values: ["ADDRESS"],
    fallback: "0.0.0.0 (every interface)",
    matches: "mod_wsgi-express --host; Apache Listen",
    help: "address to listen on",
  },
  {
    name: "port",
    values: ["NUMBER"],
    fallback: "8000",
    matches: "mod_wsgi-express --port; Apache Listen",
    help: "HTTP port (0 picks a free one)",
  },
  {
    name: "mount-point",
    values: ["URL"],
    fallback: "/",
    matches: "mod_wsgi-express --mount-point; WSGIScriptAlias URL",
    help: "URL prefix of the app",
  },
  {
    name: "url-alias",
    values: ["URL", "PATH"],
    repeat: true,
    matches: "mod_wsgi-express --url-alias; Apache Alias",
    help: "serve a file or folder at URL, never through Python",
  },
  {
    name: "application-type",
    values: ["script|module"],
    fallback: "script",
    matches: "mod_wsgi-express --application-type",
    help:
      "SCRIPT is a .wsgi file, or a module path such as myapp.wsgi:application imported from the working directory and --python-path",
  },
  {
    name: "entry-point",
    values: ["SCRIPT"],
    matches: "mod_wsgi-express --entry-point",
    help: "the script or module, instead of the positional SCRIPT",
  },
  {
    name: "callable-object",
    values: ["NAME"],
    fallback: "application",
    matches: "mod_wsgi-express --callable-object; WSGICallableObject",
    help: "name of the WSGI callable",
  },
  {
    name: "processes",
    values: ["NUMBER"],
    fallback: "1",
    matches: "mod_wsgi-express --processes; WSGIDaemonProcess processes=",
    help:
      "workers (Web Workers, each with its own interpreter); 0 runs Python inside the server's isolate (embedded mode)",
  },
  {
    name: "threads",
    values: ["NUMBER"],
    fallback: "5",
    matches: "mod_wsgi-express --threads; WSGIDaemonProcess threads=",
    help: "requests one worker interleaves while they wait on I/O",
  },
  {
    name: "python-path",
    values: ["PATH"],
    repeat: true,
    matches: "mod_wsgi-express --python-path; WSGIDaemonProcess python-path=",
    help: "folder added to sys.path, e.g. a pip install --target folder",
  },
  {
    name: "python-home",
    values: ["PATH"],
    matches: "mod_wsgi-express --python-home; WSGIPythonHome",
    help: "a virtualenv whose site-packages become importable",
  },
  {
    name: "working-directory",
    values: ["PATH"],
    fallback: "the script's folder (module: the current folder)",
    matches: "mod_wsgi-express --working-directory; WSGIDaemonProcess home=",
    help: "the interpreters' working directory",
  },
  {
    name: "setenv",
    values: ["KEY", "VALUE"],
    repeat: true,
    matches: "mod_wsgi-express --setenv; Apache SetEnv",
    help: "add KEY to every request's WSGI environ",
  },
  {
    name: "passenv",
    values: ["NAME"],
    repeat: true,
    matches: "mod_wsgi-express --passenv; Apache PassEnv",
    help: "copy this server variable into every request's WSGI environ",
  },
  {
    name: "reload-on-changes",
    matches: "mod_wsgi-express --reload-on-changes",
    help: "restart the workers when a .py or .wsgi file of the app changes",
  },
  {
    name: "maximum-requests",
    values: ["NUMBER"],
    fallback: "0 (never)",
    matches:
      "mod_wsgi-express --maximum-requests; WSGIDaemonProcess maximum-requests=",
    help: "replace a worker after this many requests",
  },
  {
    name: "request-timeout",
    values: ["SECONDS"],
    fallback: "60",
    matches:
      "mod_wsgi-express --request-timeout; WSGIDaemonProcess request-timeout=",
    help: "answer 504 to a request running longer",
  },
  {
    name: "queue-timeout",
    values: ["SECONDS"],
    fallback: "45",
    matches:
      "mod_wsgi-express --queue-timeout; WSGIDaemonProcess queue-timeout=",
    help: "answer 503 to a request waiting longer for a worker",
  },
  {
    name: "startup-timeout",
    values: ["SECONDS"],
    fallback: "15",
    matches:
      "mod_wsgi-express --startup-timeout; WSGIDaemonProcess startup-timeout=",
    help: "replace a worker that has not started (or loaded the app) in time",
  },
  {
    name: "graceful-timeout",
    values: ["SECONDS"],
    fallback: "15",
    matches:
      "mod_wsgi-express --graceful-timeout; WSGIDaemonProcess graceful-timeout=",
    help: "time requests in flight get on a restart or stop",
  },
  {
    name: "limit-request-body",
    values: ["BYTES"],
    fallback: "10485760",
    matches: "mod_wsgi-express --limit-request-body; Apache LimitRequestBody",
    help: "answer 413 to a larger body (0: no limit)",
  },
  {
    name: "access-log",
    matches: "mod_wsgi-express --access-log; Apache CustomLog",
    help:
      "log every request, in Apache's combined format unless --access-log-format says json",
  },
  {
    name: "access-log-file",
    values: ["PATH"],
    fallback: "- (stdout)",
    matches: "mod_wsgi-express --access-log-name; Apache CustomLog",
    help: "where the access log goes (implies --access-log)",
  },
  {
    name: "access-log-format",
    values: ["combined|json"],
    fallback: "combined",
    matches: "mod_wsgi-express --access-log-format; Apache LogFormat",
    help: "format of the access log (implies --access-log)",
  },
  {
    name: "error-log-file",
    values: ["PATH"],
    fallback: "- (stderr)",
    matches: "mod_wsgi-express --error-log-name; Apache ErrorLog",
    help: "where tracebacks, print() and server events go",
  },
  {
    name: "log-level",
    values: ["LEVEL"],
    fallback: "warn",
    matches: "mod_wsgi-express --log-level; Apache LogLevel",
    help:
      "debug, info, warn or error (Apache's notice, crit, alert, emerg and trace1-8 are mapped)",
  },
  {
    name: "server-status",
    matches: "mod_wsgi-express --server-status; mod_status",
    help: "serve /server-status (JSON, HTML, Prometheus) to loopback clients",
  },
  {
    name: "trust-proxy-header",
    values: ["NAME"],
    repeat: true,
    matches: "mod_wsgi-express --trust-proxy-header; WSGITrustedProxyHeaders",
    help:
      "honour this header (X-Forwarded-For, X-Forwarded-Proto, ...) from a --trust-proxy address",
  },
  {
    name: "trust-proxy",
    values: ["ADDRESS"],
    repeat: true,
    matches: "mod_wsgi-express --trust-proxy; WSGITrustedProxies",
    help: "address or CIDR range of a proxy whose headers are trusted",
  },
  {
    name: "https-port",
    values: ["NUMBER"],
    matches: "mod_wsgi-express --https-port; Apache Listen 443 + SSLEngine on",
    help: "also serve HTTPS on this port (needs the two files below)",
  },
  {
    name: "https-only",
    matches: "mod_wsgi-express --https-only",
    help: "serve HTTPS only, no plain HTTP listener",
  },
  {
    name: "ssl-certificate-file",
    values: ["PATH"],
    matches: "mod_wsgi-express --ssl-certificate-file; SSLCertificateFile",
    help: "PEM certificate chain",
  },
  {
    name: "ssl-certificate-key-file",
    values: ["PATH"],
    matches:
      "mod_wsgi-express --ssl-certificate-key-file; SSLCertificateKeyFile",
    help: "PEM private key",
  },
  { name: "help", matches: "mod_wsgi-express --help", help: "show this text" },
];

export const START_SERVER_USAGE = "deno-wsgi start-server SCRIPT [options]";
export const START_SERVER_SUMMARY =
  "Serve a WSGI script (or module) on Pyodide, as mod_wsgi-express start-server does with Apache.";

/** The help text of start-server. */
export function startServerHelp(): string {
  return helpText(
    START_SERVER_USAGE,
    START_SERVER_SUMMARY,
    START_SERVER_OPTIONS,
  );
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
      args: joinPairs(args, START_SERVER_OPTIONS, PAIR),
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
  if (values["python-home"] !== undefined) {
    group.pythonHome = resolve(values["python-home"] as string);
  }

  const mount: SiteMount = {
    prefix: (values["mount-point"] as string | undefined) ?? "/",
    script,
    group: "default",
    callable,
    environ,
    limitRequestBody: integer(values, "limit-request-body", 10485760),
  };
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
  return { help: false, site, temporary };
}
