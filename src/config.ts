/**
 * Options of groups and mounts, their defaults, and their validation. Every
 * check names the option it rejects and says what is expected.
 *
 * @module
 */

import type { SnapshotSettings } from "./snapshots.ts";
import {
  checkOptionNames,
  count,
  fail,
  folder,
  folders,
  outOfRange,
  seconds,
  snapshotOption,
} from "./option_checks.ts";

/**
 * Settings of a process group: mod_wsgi's `WSGIDaemonProcess`. Times are in
 * seconds, as in mod_wsgi.
 *
 * @example mod_wsgi's `WSGIDaemonProcess shop processes=2 threads=10 ...`
 * ```ts
 * import { defineGroup, type GroupOptions } from "../mod.ts";
 * const options: GroupOptions = {
 *   processes: 2,
 *   threads: 10,
 *   requestTimeout: 30,
 *   allowNet: ["127.0.0.1:5432"],
 * };
 * const shop = defineGroup("shop-options", options);
 * await shop.shutdown();
 * ```
 */
export interface GroupOptions {
  /**
   * Web Workers in the pool, each with its own Pyodide interpreters
   * (`processes=`). A Pyodide interpreter runs one request at a time, so this
   * is the group's concurrency. `0` runs the interpreter embedded in the
   * server's own isolate (mod_wsgi's embedded mode). Default 1.
   */
  processes?: number;
  /**
   * Where each worker runs. `"process"` (default): a child Deno process
   * that runs the Web Worker; killing it always works (SIGKILL at
   * requestTimeout, even in a C loop that never checks for interrupts) and
   * gives its memory back. It needs the server to be allowed to run Deno
   * itself (`--allow-run`). `"thread"`: a Web Worker in the server's
   * process; lighter (about 70 MB each) and a little faster per request,
   * but Deno cannot stop a Web Worker stuck where Python cannot be
   * interrupted: it keeps a core busy until the server exits. Sandboxing a
   * Web Worker needs the server started with `--unstable-worker-options`
   * (or `permissions: "inherit"`). No mod_wsgi equivalent (its daemons are
   * always processes).
   */
  isolation?: "thread" | "process";
  /**
   * What Python may do through Deno (think `user=`/`group=`: what the app
   * may touch). By default (the sandbox) a worker may read only Pyodide,
   * this library's code, the scripts' folders, `pythonPath`, `pythonHome`
   * and `home`; write only `writable` and the snapshot folder; connect only
   * to `allowNet` (default: where the server may); and has no environment
   * (`os.environ` still gets `env` and `inheritEnv`), processes, FFI or
   * system information. An array of Deno flags widens it, e.g.
   * `["--allow-env=TZ", "--allow-read=/srv/shared"]`; `"inherit"` gives
   * the worker every permission the server holds (no sandbox). Embedded
   * groups (`processes: 0`) cannot be sandboxed.
   */
  permissions?: "inherit" | string[];
  /**
   * Replace a worker after it served this many requests
   * (`maximum-requests=`); its replacement starts while its last request
   * runs, so no request waits for it. 0 = never.
   */
  maximumRequests?: number;
  /**
   * Workers kept started and idle beside `processes`, to take over at once
   * from one that stops (a request timeout, a crash, a recycle) instead of
   * making requests wait for a new worker to start; a new spare then
   * starts behind it. Each costs a worker's memory (a Web Worker with
   * Pyodide, 60-130 MB RSS) while it waits. Not with `processes: 0`.
   * No mod_wsgi equivalent. Default 0.
   */
  spareWorkers?: number;
  /**
   * Recycle a worker, once its requests in flight are done, when its
   * WebAssembly memory (the Pyodide heaps of its interpreters, which never
   * shrink) has grown past this many bytes (mod_wsgi's `memory-limit=`
   * idea). A worker whose request raised `MemoryError` is recycled too,
   * with or without a limit. 0 = no limit (default); at least 64 MiB
   * (67108864), at most 4 GiB, the WebAssembly ceiling.
   */
  memoryLimit?: number;
  /** Answer 504 and replace the worker when a request runs longer (`request-timeout=`). 0 = never. Default 60. */
  requestTimeout?: number;
  /** Answer 503 when a request waited longer for a worker (`queue-timeout=`). 0 = never. Default 30. */
  queueTimeout?: number;
  /** Answer 503 at once when this many requests already wait (`listen-backlog=`). Default 256. */
  queueLimit?: number;
  /** Release workers idle this long; they come back on the next request (`inactivity-timeout=`). 0 = never. */
  inactivityTimeout?: number;
  /**
   * Replace a worker that has not started within this time, or whose script
   * failed to load and has not loaded since, on later requests, within this
   * time (`startup-timeout=`). Restarts back off (0.5 s doubling to 30 s)
   * while they keep failing. 0 = never. Default 60.
   */
  startupTimeout?: number;
  /** On shutdown or restart, let in-flight requests run this long (`graceful-timeout=`). Default 10. */
  gracefulTimeout?: number;
  /** Folders added to `sys.path`, e.g. site-packages (`python-path=`). */
  pythonPath?: string[];
  /** A virtualenv whose site-packages become importable (`python-home=`). */
  pythonHome?: string;
  /** The working directory of the interpreters (`home=`). */
  home?: string;
  /** Variables seen in `os.environ` (`SetEnv` for the process); they win over inherited ones. */
  env?: Record<string, string>;
  /**
   * Which of the server's environment variables `os.environ` inherits, as
   * mod_wsgi daemons inherit Apache's (and systemd `EnvironmentFile=`
   * users rely on): `true` (default) all of them, `false` none, or a list
   * of names. All of them includes secrets meant for the server, such as
   * tokens and database passwords: restrict it for apps you do not trust.
   * HOME stays the interpreter's own unless listed or set in `env`.
   */
  inheritEnv?: boolean | string[];
  /** Modules imported when a worker starts (`WSGIImportScript`). */
  preload?: string[];
  /**
   * Requests one worker interleaves (`threads=`): while one waits on a
   * socket, a lock or `time.sleep`, another runs. CPU-bound Python still
   * runs one request at a time. Each request is a thread of its own for
   * the app (`threading.local`, `get_ident`, locks, `contextvars`), and
   * `wsgi.multithread` is true above 1. Default 1.
   */
  threads?: number;
  /**
   * Hosts Python may connect to, in the form of Deno's `--allow-net`:
   * `"127.0.0.1:5432"`, `"api.example.com"` (any port), `"*"`. A connect
   * elsewhere raises PermissionError naming this option; with isolation
   * "process" the worker also gets exactly this `--allow-net`. Default:
   * whatever the server's own Deno permissions allow (as mod_wsgi, where
   * an app may connect anywhere).
   */
  allowNet?: string[];
  /**
   * Host folders Python may write to (data, uploads, logs, SQLite files),
   * mounted read-write at the same paths. Python's writes anywhere else
   * raise PermissionError naming this option, instead of landing in an
   * in-memory file system that each worker has its own copy of and that
   * is gone at the next restart (`/tmp` stays as in-memory scratch space).
   */
  writable?: string[];
  /**
   * Start workers from a snapshot of an interpreter taken after start-up,
   * the bridge and the `preload` imports (about 0.3 s instead of 2-5 s per
   * worker). `true` (default): snapshots live in `$DENO_WSGI_SNAPSHOTS`,
   * else `$XDG_CACHE_HOME/deno-wsgi/snapshots`, else
   * `~/.cache/deno-wsgi/snapshots`, made by the first worker that finds
   * none. `{ folder, write: false }` uses a snapshot shipped in `folder`
   * and never writes (read-only deploys). `{ script: true }` takes the
   * snapshot after the mounts' WSGI scripts are imported too, so a
   * worker's first request imports nothing; a script whose import draws
   * entropy (`os.urandom`, `secrets`, unseeded `random`) or leaves a file
   * or socket open is left out (said in the log) and imported by each
   * worker. Default false. `false`: off.
   */
  snapshot?: boolean | { folder?: string; write?: boolean; script?: boolean };
}

/** A group's options with every default filled in and paths made absolute. */
export interface GroupConfig {
  name: string;
  processes: number;
  isolation: "thread" | "process";
  /** Undefined: the sandbox; "inherit": the server's permissions. */
  permissions?: "inherit" | string[];
  maximumRequests: number;
  spareWorkers: number;
  memoryLimit: number;
  requestTimeout: number;
  queueTimeout: number;
  queueLimit: number;
  inactivityTimeout: number;
  startupTimeout: number;
  gracefulTimeout: number;
  pythonPath: string[];
  pythonHome?: string;
  home?: string;
  env: Record<string, string>;
  inheritEnv: boolean | string[];
  preload: string[];
  threads: number;
  /** Undefined: whatever the server may reach. */
  allowNet?: string[];
  writable: string[];
  /** Undefined: snapshots are off. */
  snapshot?: SnapshotSettings;
}

/** What a worker needs to know to load one mounted script. */
export interface MountSpec {
  /** Unique within the process. */
  id: string;
  /** The URL prefix, "" for "/". */
  prefix: string;
  /** Absolute path of the WSGI script. */
  scriptPath: string;
  /** Name of the WSGI callable in the script. */
  callable: string;
  /** Interpreter the script runs in: mounts naming the same one share it. */
  applicationGroup: string;
  /** Extra folders for `sys.path` of this mount's interpreter. */
  pythonPath: string[];
  /** Name of the process group, for the environ and the log. */
  group: string;
  /** `wsgi.multiprocess`: true when the group has more than one worker. */
  multiprocess: boolean;
  /** `wsgi.multithread`: true when the group's workers have threads. */
  multithread: boolean;
}

const GROUP_OPTION_NAMES = new Set([
  "processes",
  "isolation",
  "permissions",
  "maximumRequests",
  "spareWorkers",
  "memoryLimit",
  "requestTimeout",
  "queueTimeout",
  "queueLimit",
  "inactivityTimeout",
  "startupTimeout",
  "gracefulTimeout",
  "pythonPath",
  "pythonHome",
  "home",
  "env",
  "inheritEnv",
  "preload",
  "threads",
  "allowNet",
  "writable",
  "snapshot",
]);

/**
 * Where workers run unless a group says otherwise: a child process, the
 * one place Python can always be stopped (a Web Worker busy in WebAssembly
 * survives terminate(); see README "Stopping runaway Python").
 */
export const DEFAULT_ISOLATION = "process";

/** Checks `allowNet`: Deno's `--allow-net` entries. */
function hostList(where: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const entry = /^(\*|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.*-]+)(:\d{1,5})?$/;
  if (
    !Array.isArray(value) ||
    value.some((item) => typeof item !== "string" || !entry.test(item))
  ) {
    throw fail(
      where,
      "allowNet",
      'an array of hosts in --allow-net form, such as ["127.0.0.1:5432", "api.example.com:443"]',
      value,
    );
  }
  return [...value];
}

/** The least `memoryLimit`: a worker's heap starts at 30-40 MiB. */
export const MEMORY_LIMIT_MIN = 64 * 1024 * 1024;
/** The most: a 32-bit WebAssembly memory never grows past 4 GiB. */
const MEMORY_LIMIT_MAX = 4 * 1024 * 1024 * 1024;

/** Checks `memoryLimit`: bytes, 0 (none) or within the heap's range. */
function memoryLimit(where: string, raw: Record<string, unknown>): number {
  const bytes = count(where, raw, "memoryLimit", 0);
  if (bytes !== 0 && (bytes < MEMORY_LIMIT_MIN || bytes > MEMORY_LIMIT_MAX)) {
    throw outOfRange(
      where,
      "memoryLimit",
      `0 (no limit) or a number of bytes from ${MEMORY_LIMIT_MIN} (64 MiB: a worker's heap starts at 30-40 MiB) to ${MEMORY_LIMIT_MAX} (4 GiB, the WebAssembly ceiling)`,
      bytes,
    );
  }
  return bytes;
}

/** Validates a group's options and fills in the defaults. */
export function resolveGroupOptions(
  name: string,
  options: GroupOptions = {},
): GroupConfig {
  const where = `defineGroup("${name}")`;
  if (typeof name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new TypeError(
      `defineGroup: the group name must be letters, digits, "_", "." or "-", got ${
        JSON.stringify(name)
      }`,
    );
  }
  const raw = checkOptionNames(options, {
    where,
    names: [...GROUP_OPTION_NAMES],
  });
  const env = options.env ?? {};
  if (
    typeof env !== "object" || env === null ||
    Object.values(env).some((v) => typeof v !== "string")
  ) {
    throw fail(where, "env", "an object of string values", env);
  }
  const inheritEnv = options.inheritEnv ?? true;
  if (
    typeof inheritEnv !== "boolean" &&
    !(Array.isArray(inheritEnv) &&
      inheritEnv.every((name) =>
        typeof name === "string" && /^[^=\0]+$/.test(name)
      ))
  ) {
    throw fail(
      where,
      "inheritEnv",
      "true, false or an array of variable names",
      inheritEnv,
    );
  }
  const preload = options.preload ?? [];
  if (
    !Array.isArray(preload) ||
    preload.some((m) => typeof m !== "string" || !/^[A-Za-z_][\w.]*$/.test(m))
  ) {
    throw fail(where, "preload", "an array of Python module names", preload);
  }
  let pythonHome: string | undefined;
  if (options.pythonHome !== undefined) {
    if (typeof options.pythonHome !== "string") {
      throw fail(
        where,
        "pythonHome",
        "a virtualenv folder",
        options.pythonHome,
      );
    }
    pythonHome = folder(where, "pythonHome", options.pythonHome);
  }
  let home: string | undefined;
  if (options.home !== undefined) {
    if (typeof options.home !== "string") {
      throw fail(where, "home", "a folder path", options.home);
    }
    home = folder(where, "home", options.home);
  }
  const processes = count(where, raw, "processes", 1);
  const isolation = options.isolation ?? DEFAULT_ISOLATION;
  if (isolation !== "thread" && isolation !== "process") {
    throw fail(where, "isolation", '"thread" or "process"', isolation);
  }
  const permissions = options.permissions;
  if (
    permissions !== undefined && permissions !== "inherit" &&
    (!Array.isArray(permissions) ||
      permissions.some((flag) =>
        typeof flag !== "string" ||
        !/^(-A|--allow-[a-z-]+(=.*)?|--deny-[a-z-]+(=.*)?)$/.test(flag)
      ))
  ) {
    throw fail(
      where,
      "permissions",
      '"inherit" or an array of Deno permission flags such as "--allow-net=example.com"',
      permissions,
    );
  }
  if (permissions !== undefined && processes === 0) {
    throw new TypeError(
      `${where}: option "permissions" applies to workers; processes: 0 runs Python embedded in the server, with the server's permissions, and cannot be sandboxed`,
    );
  }
  if (
    Array.isArray(permissions) && isolation === "thread" &&
    permissions.some((flag) => flag.startsWith("--deny-"))
  ) {
    throw new TypeError(
      `${where}: option "permissions": --deny-* flags apply to workers that are processes (a Web Worker takes allow-lists only); use isolation: "process" or drop them`,
    );
  }
  if (processes === 0 && options.isolation === "process") {
    throw new TypeError(
      `${where}: processes: 0 runs Python embedded in the server, which contradicts isolation: "process"; set processes to 1 or more`,
    );
  }
  const threads = count(where, raw, "threads", 1, 1);
  const spareWorkers = count(where, raw, "spareWorkers", 0);
  if (spareWorkers > 0 && processes === 0) {
    throw new TypeError(
      `${where}: option "spareWorkers" needs workers of their own, and processes: 0 runs Python embedded in the server; set processes to 1 or more, or drop spareWorkers`,
    );
  }
  return {
    name,
    processes,
    isolation,
    threads,
    allowNet: hostList(where, options.allowNet),
    writable: folders(where, "writable", options.writable),
    snapshot: snapshotOption(where, options.snapshot),
    permissions: Array.isArray(permissions) ? [...permissions] : permissions,
    maximumRequests: count(where, raw, "maximumRequests", 0),
    spareWorkers,
    memoryLimit: memoryLimit(where, raw),
    requestTimeout: seconds(where, raw, "requestTimeout", 60),
    queueTimeout: seconds(where, raw, "queueTimeout", 30),
    queueLimit: count(where, raw, "queueLimit", 256, 1),
    inactivityTimeout: seconds(where, raw, "inactivityTimeout", 0),
    startupTimeout: seconds(where, raw, "startupTimeout", 60),
    gracefulTimeout: seconds(where, raw, "gracefulTimeout", 10),
    pythonPath: folders(where, "pythonPath", options.pythonPath),
    pythonHome,
    home,
    env: { ...env },
    inheritEnv: typeof inheritEnv === "boolean" ? inheritEnv : [...inheritEnv],
    preload: [...preload],
  };
}
