/**
 * `WSGIDaemonProcess name option=value ...` to a group's options, and the
 * `key=value` options shared with `WSGIScriptAlias` and `WSGIImportScript`.
 *
 * @module
 */

import { resolve } from "node:path";
import {
  type GroupOptions,
  MEMORY_LIMIT_MAX,
  MEMORY_LIMIT_MIN,
} from "../config.ts";
import type { ConfigDirective } from "./reader.ts";
import { fail } from "./report.ts";

/** Reports something that cannot be honoured. */
export type Warn = (
  node: ConfigDirective,
  directive: string,
  reason: string,
) => void;

/** `WSGIDaemonProcess` options that are whole numbers, by group option. */
const COUNTS: Record<string, keyof GroupOptions> = {
  "processes": "processes",
  "threads": "threads",
  "maximum-requests": "maximumRequests",
  "listen-backlog": "queueLimit",
};

/** `WSGIDaemonProcess` options in seconds, by group option. */
const TIMES: Record<string, keyof GroupOptions> = {
  "request-timeout": "requestTimeout",
  "queue-timeout": "queueTimeout",
  "startup-timeout": "startupTimeout",
  "inactivity-timeout": "inactivityTimeout",
  "restart-interval": "restartInterval",
  "cpu-time-limit": "cpuTimeLimit",
  "graceful-timeout": "gracefulTimeout",
};

/** mod_wsgi daemon options with no counterpart here, and why. */
const UNSUPPORTED: Record<string, string> = {
  "user":
    "workers run as the server's user; restrict what Python may touch with the group's writable, allowNet and isolation/permissions options",
  "group":
    "workers run as the server's group; restrict what Python may touch with the group's writable, allowNet and isolation/permissions options",
  "supplementary-groups": "workers run with the server's groups",
  "umask": "files are created with the server's umask",
  "chroot":
    "no chroot: Python sees only the folders the group maps (script, pythonPath, pythonHome, home, writable)",
  "display-name":
    "workers are Web Workers in the server's process and have no process title",
  "virtual-memory-limit":
    "a worker's address space is its WebAssembly heap: memory-limit= bounds it",
  "stack-size": "the WebAssembly stack size is Pyodide's",
  "cpu-priority": "workers run at the server's priority",
  "shutdown-timeout": "graceful-timeout bounds a shutdown",
  "deadlock-timeout":
    "there is no GIL deadlock to detect: one Python thread per worker",
  "eviction-timeout": "graceful-timeout applies",
  "connect-timeout": "requests reach workers through memory, not a socket",
  "socket-timeout": "requests reach workers through memory, not a socket",
  "response-socket-timeout":
    "requests reach workers through memory, not a socket",
  "send-buffer-size": "requests reach workers through memory, not a socket",
  "receive-buffer-size": "requests reach workers through memory, not a socket",
  "header-buffer-size": "requests reach workers through memory, not a socket",
  "response-buffer-size": "responses stream without a fixed buffer",
  "socket-user": "requests reach workers through memory, not a socket",
  "script-user": "no per-user script ownership check",
  "python-eggs": "egg caches are not used by Pyodide",
  "server-metrics": "use the status endpoint (serverStatus) instead",
};

/** `key=value` pairs after the positional arguments. */
export function keyValues(
  node: ConfigDirective,
  args: string[],
): [string, string][] {
  return args.map((arg) => {
    const at = arg.indexOf("=");
    if (at <= 0) {
      fail(
        node,
        `${node.name}: expected option=value, got ${JSON.stringify(arg)}`,
      );
    }
    return [arg.slice(0, at).toLowerCase(), arg.slice(at + 1)];
  });
}

function wholeNumber(
  node: ConfigDirective,
  key: string,
  value: string,
): number {
  if (!/^\d+$/.test(value)) {
    fail(
      node,
      `${node.name}: ${key}= must be a whole number, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return Number(value);
}

/**
 * `memory-limit=` (bytes of a daemon's RSS in mod_wsgi) as `memoryLimit`
 * (bytes of a worker's heap). A limit that Apache honours is never refused:
 * one below the least a heap can work in is raised to it, with a warning.
 */
function memoryLimit(node: ConfigDirective, warn: Warn, bytes: number): number {
  if (bytes === 0 || bytes >= MEMORY_LIMIT_MAX) return 0;
  if (bytes < MEMORY_LIMIT_MIN) {
    warn(
      node,
      "WSGIDaemonProcess memory-limit=",
      `${bytes} bytes is below the least a worker's heap works in; memoryLimit is ${MEMORY_LIMIT_MIN} (64 MiB)`,
    );
    return MEMORY_LIMIT_MIN;
  }
  return bytes;
}

/** The name and group options of a `WSGIDaemonProcess` line. */
export function daemonGroup(
  node: ConfigDirective,
  warn: Warn,
): { name: string; options: GroupOptions } {
  const [name, ...rest] = node.args;
  if (!name || name.includes("=")) {
    fail(
      node,
      "WSGIDaemonProcess: the first argument must be the group's name",
    );
  }
  const options: Record<string, unknown> = {};
  const env: Record<string, string> = {};
  for (const [key, value] of keyValues(node, rest)) {
    if (key in COUNTS) {
      const count = wholeNumber(node, key, value);
      if ((key === "processes" || key === "threads") && count < 1) {
        fail(node, `WSGIDaemonProcess: ${key}= must be at least 1`);
      }
      options[COUNTS[key]] = count;
    } else if (key in TIMES) {
      options[TIMES[key]] = wholeNumber(node, key, value);
    } else if (key === "memory-limit") {
      options.memoryLimit = memoryLimit(
        node,
        warn,
        wholeNumber(node, key, value),
      );
    } else if (key === "python-home") {
      options.pythonHome = resolve(node.base, value);
    } else if (key === "python-path") {
      options.pythonPath = value.split(":").filter(Boolean).map((path) =>
        resolve(node.base, path)
      );
    } else if (key === "home") {
      options.home = resolve(node.base, value);
    } else if (key === "lang") {
      env.LANG = value;
    } else if (key === "locale") {
      env.LC_ALL = value;
    } else if (key in UNSUPPORTED) {
      warn(node, `WSGIDaemonProcess ${key}=`, UNSUPPORTED[key]);
    } else {
      warn(
        node,
        `WSGIDaemonProcess ${key}=`,
        "not a WSGIDaemonProcess option this reader knows; ignored",
      );
    }
  }
  if (Object.keys(env).length > 0) options.env = env;
  return { name, options: options as GroupOptions };
}
