/**
 * The options of groups and mounts as the rest of the library sees them:
 * what a group may be given (GroupOptions, documented for users), what it
 * runs with once checked (GroupConfig), the defaults between the two, and
 * what a worker needs to load one mounted script (MountSpec). Checking a
 * group's options is group_options.ts's.
 *
 * @module
 */

import type { SnapshotSettings } from "./snapshots.ts";

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
   * Recycle each worker once it has served this long, after its requests
   * (`restart-interval=`): its successor starts first. 0 = never (default).
   */
  restartInterval?: number;
  /**
   * Recycle a worker, after its requests, once the thread Python runs on
   * has used this many seconds of CPU, its start included
   * (`cpu-time-limit=`). 0 = never (default). Needs workers of their own
   * (processes of 1 or more).
   */
  cpuTimeLimit?: number;
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
  restartInterval: number;
  cpuTimeLimit: number;
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

/**
 * Where workers run unless a group says otherwise: a child process, the
 * one place Python can always be stopped (a Web Worker busy in WebAssembly
 * survives terminate(); see README "Stopping runaway Python").
 */
export const DEFAULT_ISOLATION = "process";

/** The numbers a group runs with when its options leave them out. */
export const GROUP_DEFAULTS = {
  processes: 1,
  threads: 1,
  maximumRequests: 0,
  spareWorkers: 0,
  memoryLimit: 0,
  requestTimeout: 60,
  queueTimeout: 30,
  queueLimit: 256,
  inactivityTimeout: 0,
  restartInterval: 0,
  cpuTimeLimit: 0,
  startupTimeout: 60,
  gracefulTimeout: 10,
} as const;

/** The least `memoryLimit`: a worker's heap starts at 30-40 MiB. */
export const MEMORY_LIMIT_MIN = 64 * 1024 * 1024;
/** The most: a 32-bit WebAssembly memory never grows past 4 GiB. */
export const MEMORY_LIMIT_MAX = 4 * 1024 * 1024 * 1024;
