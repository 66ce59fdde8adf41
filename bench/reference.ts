/**
 * The reference servers of the benchmark, started on loopback by this
 * module, and the tools around them:
 *
 * - `ensureReferencePackages()` installs Debian's apache2,
 *   libapache2-mod-wsgi-py3, gunicorn and wrk when one is missing;
 * - `startApacheWsgi()` runs Apache (event MPM) with mod_wsgi in daemon
 *   mode from a configuration generated in a temporary folder;
 * - `startGunicorn()` runs gunicorn with sync workers;
 * - `startCommandServer()` runs any other server command (the gateway);
 * - `watchTreeMemory()` samples the memory of a server's process tree.
 *
 * Every server is a child of this process and `stop()` ends its whole
 * process tree: nothing outlives the benchmark.
 *
 * @module
 */

/** Debian's binaries and modules that the reference servers use. */
export const DEBIAN_PATHS = {
  apache2: "/usr/sbin/apache2",
  modules: "/usr/lib/apache2/modules",
  gunicorn: "/usr/bin/gunicorn",
  wrk: "/usr/bin/wrk",
  python: "/usr/bin/python3",
} as const;

const decoder = new TextDecoder();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ success: boolean; output: string }> {
  try {
    const result = await new Deno.Command(command, {
      args,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      success: result.success,
      output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
    };
  } catch (error) {
    return { success: false, output: (error as Error).message };
  }
}

// ---------------------------------------------------------------------------
// Debian packages

/** Options of `ensureReferencePackages()`. */
export interface EnsurePackagesOptions {
  /** Install what is missing with apt-get. Default true; false only checks. */
  install?: boolean;
  /** Called with progress messages. Default: none. */
  log?: (message: string) => void;
}

let aptUpdated = false;

/**
 * Makes sure Debian's apache2, libapache2-mod-wsgi-py3, gunicorn and wrk
 * are installed: checks for their binaries and for mod_wsgi.so, and when
 * one is missing runs `apt-get update` (once per process) and
 * `apt-get install -y` for the missing packages. While installing, a
 * temporary /usr/sbin/policy-rc.d (when there is none) keeps apt from
 * starting Apache as a system service on port 80.
 *
 * Returns the packages it installed (empty when all were there).
 *
 * @example
 * ```ts ignore
 * await ensureReferencePackages({ log: console.error });
 * ```
 */
export async function ensureReferencePackages(
  options: EnsurePackagesOptions = {},
): Promise<string[]> {
  const wanted: [string, string][] = [
    ["apache2", DEBIAN_PATHS.apache2],
    ["libapache2-mod-wsgi-py3", `${DEBIAN_PATHS.modules}/mod_wsgi.so`],
    ["gunicorn", DEBIAN_PATHS.gunicorn],
    ["wrk", DEBIAN_PATHS.wrk],
  ];
  const missing: string[] = [];
  for (const [name, path] of wanted) {
    if (!await exists(path)) missing.push(name);
  }
  if (missing.length === 0) return [];
  const command = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  if (options.install === false) {
    throw new Error(
      `Missing Debian packages: ${
        missing.join(", ")
      }; install them with: ${command}`,
    );
  }
  if (Deno.uid() !== 0) {
    throw new Error(
      `Missing Debian packages: ${
        missing.join(", ")
      }; apt-get needs root, run: sudo sh -c "${command}"`,
    );
  }
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !await exists(policy);
  try {
    if (ownPolicy) {
      await Deno.writeTextFile(policy, "#!/bin/sh\nexit 101\n", {
        mode: 0o755,
      });
    }
    if (!aptUpdated) {
      options.log?.("apt-get update");
      const update = await run("apt-get", ["update"], env);
      if (!update.success) {
        throw new Error(`apt-get update failed:\n${update.output.trim()}`);
      }
      aptUpdated = true;
    }
    options.log?.(`apt-get install -y ${missing.join(" ")}`);
    const install = await run(
      "apt-get",
      ["install", "-y", "--no-install-recommends", ...missing],
      env,
    );
    if (!install.success) {
      throw new Error(
        `apt-get install ${
          missing.join(" ")
        } failed:\n${install.output.trim()}`,
      );
    }
  } finally {
    if (ownPolicy) await Deno.remove(policy).catch(() => {});
  }
  for (const [name, path] of wanted) {
    if (!await exists(path)) {
      throw new Error(`${name} was installed but ${path} is still missing`);
    }
  }
  return missing;
}

/**
 * Versions of the reference software, for the report: Apache, mod_wsgi
 * (Debian's package version), the Debian Python that both mod_wsgi and
 * gunicorn run, gunicorn and wrk. Unknown ones are "?".
 */
export async function referenceVersions(): Promise<Record<string, string>> {
  const dpkg = async (name: string) => {
    const { success, output } = await run("dpkg-query", [
      "-W",
      "-f=${Version}",
      name,
    ]);
    return success ? output.trim() : "?";
  };
  const apache = await run(DEBIAN_PATHS.apache2, ["-v"]);
  const python = await run(DEBIAN_PATHS.python, ["--version"]);
  const wrk = await run(DEBIAN_PATHS.wrk, ["-v"]);
  return {
    apache: apache.output.match(/Apache\/(\S+)/)?.[1] ?? "?",
    modWsgi: await dpkg("libapache2-mod-wsgi-py3"),
    python: python.output.match(/Python (\S+)/)?.[1] ?? "?",
    gunicorn: await dpkg("gunicorn"),
    wrk: wrk.output.match(/wrk (?:debian\/)?([\d.]+)/)?.[1] ?? "?",
  };
}

// ---------------------------------------------------------------------------
// Process trees

interface ProcessId {
  pid: number;
  /** Start time in clock ticks since boot: tells a pid's reuse apart. */
  start: string;
}

function readStat(
  pid: number,
): { state: string; ppid: number; start: string } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], ppid: Number(fields[1]), start: fields[19] };
}

/**
 * The process `root` and all its descendants, from /proc (Linux only).
 * Empty when `root` is gone.
 */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid);
    if (list) list.push(pid);
    else children.set(stat.ppid, [pid]);
  }
  if (!readStat(root)) return [];
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    tree.push(...(children.get(tree[i]) ?? []));
  }
  return tree;
}

function identify(pids: number[]): ProcessId[] {
  const ids: ProcessId[] = [];
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat) ids.push({ pid, start: stat.start });
  }
  return ids;
}

function alive(id: ProcessId): boolean {
  const stat = readStat(id.pid);
  // A zombie has exited; its parent (maybe init) has yet to reap it.
  return stat !== undefined && stat.start === id.start && stat.state !== "Z";
}

function signal(id: ProcessId, name: Deno.Signal): void {
  if (!alive(id)) return;
  try {
    Deno.kill(id.pid, name);
  } catch {
    // gone meanwhile
  }
}

/** CPU time counters at one moment, in clock ticks (USER_HZ). */
export interface CpuTicks {
  /**
   * The whole machine's time in user and system mode and stolen by the
   * hypervisor (interrupts left out).
   */
  busy: number;
  /** The whole machine's time, idle included. */
  total: number;
  /**
   * This process and its whole tree, children that were waited for
   * included (so a finished wrk counts).
   */
  ours: number;
}

/** Reads the machine's and this process tree's CPU time now (Linux only). */
export function cpuTicks(): CpuTicks {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim().split(/\s+/).slice(1).map(Number);
  // Interrupts are left out: loopback traffic is handled in softirqs
  // that no process is charged for.
  const busy = user + nice + system + (steal ?? 0);
  let ours = 0;
  for (const pid of processTree(Deno.pid)) {
    try {
      const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
      // After "(comm) ": state is field 0, utime 11, stime 12, cutime 13, cstime 14.
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      ours += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) +
        Number(fields[14]);
    } catch {
      // exited meanwhile
    }
  }
  return { busy, total: busy + idle + iowait + irq + softirq, ours };
}

/**
 * The share of the machine's CPU time (0-100 %) between two `cpuTicks()`
 * readings that went to processes outside this process tree (other users
 * of the machine, the kernel's own threads, a hypervisor's steal): how
 * much a neighbour may have disturbed a measurement.
 */
export function otherCpuPercent(before: CpuTicks, after: CpuTicks): number {
  const total = after.total - before.total;
  if (total <= 0) return 0;
  const other = (after.busy - before.busy) - (after.ours - before.ours);
  return Math.max(0, (other / total) * 100);
}

/** Memory of a process tree at one moment. */
export interface TreeMemory {
  /** Sum of VmRSS over the processes (shared pages count once per process). */
  rssBytes: number;
  /**
   * Sum of PSS (proportional set size, shared pages split between the
   * processes sharing them) from /proc/PID/smaps_rollup; undefined when
   * unreadable.
   */
  pssBytes?: number;
  /** How many processes the tree had. */
  processes: number;
}

function kilobytes(text: string, key: string): number | undefined {
  const match = text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
  return match ? Number(match[1]) * 1024 : undefined;
}

/** Reads the memory of the process tree of `root` now (Linux only). */
export function treeMemory(root: number): TreeMemory {
  let rssBytes = 0;
  let pssBytes: number | undefined = 0;
  let processes = 0;
  for (const pid of processTree(root)) {
    let status: string;
    try {
      status = Deno.readTextFileSync(`/proc/${pid}/status`);
    } catch {
      continue; // exited meanwhile
    }
    processes++;
    rssBytes += kilobytes(status, "VmRSS") ?? 0;
    if (pssBytes !== undefined) {
      try {
        const pss = kilobytes(
          Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`),
          "Pss",
        );
        pssBytes = pss === undefined ? undefined : pssBytes + pss;
      } catch {
        pssBytes = undefined;
      }
    }
  }
  return { rssBytes, pssBytes, processes };
}

/** A running sampler started by `watchTreeMemory()`. */
export interface MemoryWatch {
  /**
   * The highest sums sampled since the start or the last `reset()`
   * (RSS and PSS each at their own peak; processes at its maximum).
   */
  peak(): TreeMemory;
  /** Forgets the peak: the next window starts now, with a fresh sample. */
  reset(): void;
  /** Stops sampling. */
  stop(): void;
}

/**
 * Samples the memory of the process tree of `root` every `intervalMs`
 * (default 200) and keeps the peak of the sums.
 *
 * @example
 * ```ts ignore
 * const watch = watchTreeMemory(server.pid);
 * await runWrk(url);
 * console.log(watch.peak().rssBytes);
 * watch.stop();
 * ```
 */
export function watchTreeMemory(
  root: number,
  options: { intervalMs?: number } = {},
): MemoryWatch {
  let best: TreeMemory = { rssBytes: 0, pssBytes: undefined, processes: 0 };
  const sample = () => {
    const now = treeMemory(root);
    best = {
      rssBytes: Math.max(best.rssBytes, now.rssBytes),
      pssBytes: now.pssBytes === undefined
        ? best.pssBytes
        : Math.max(best.pssBytes ?? 0, now.pssBytes),
      processes: Math.max(best.processes, now.processes),
    };
  };
  sample();
  const timer = setInterval(sample, options.intervalMs ?? 200);
  return {
    peak() {
      sample();
      return { ...best };
    },
    reset() {
      best = { rssBytes: 0, pssBytes: undefined, processes: 0 };
      sample();
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/**
 * Ends the process tree of `child`: sends `signal` to the child, waits up
 * to `graceMs` for it to exit, then SIGKILLs the child and every process
 * that was in its tree (even those re-parented meanwhile) and waits until
 * they are gone. Throws when a process survives SIGKILL.
 */
export async function stopProcessTree(
  child: Deno.ChildProcess,
  options: { signal?: Deno.Signal; graceMs?: number } = {},
): Promise<void> {
  const graceMs = options.graceMs ?? 10_000;
  const tree = identify(processTree(child.pid));
  let exited = false;
  const status = child.status.then(() => exited = true);
  if (tree.length > 0) signal(tree[0], options.signal ?? "SIGTERM");
  await Promise.race([status, sleep(graceMs)]);
  const waitGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (tree.some(alive) && Date.now() < deadline) await sleep(50);
  };
  // Children may still be finishing their own shutdown after the parent.
  if (exited) await waitGone(graceMs);
  if (!exited || tree.some(alive)) {
    for (const id of tree) signal(id, "SIGKILL");
    await status;
    await waitGone(5_000);
  }
  const left = tree.filter(alive).map((id) => id.pid);
  if (left.length > 0) {
    throw new Error(`processes ${left.join(", ")} survived SIGKILL`);
  }
}

/** Keeps the last `limit` characters written to a stream, for errors. */
function tail(
  stream: ReadableStream<Uint8Array>,
  limit = 16_000,
): () => string {
  let text = "";
  stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        text = (text + chunk).slice(-limit);
      },
    }),
  ).catch(() => {});
  return () => text;
}

// ---------------------------------------------------------------------------
// Servers

/** A server started by this module, listening on 127.0.0.1. */
export interface RunningServer {
  /** Short name, like "mod_wsgi". */
  name: string;
  /** What runs, for the report: versions, processes, threads. */
  description: string;
  /** Like "http://127.0.0.1:8400". */
  baseUrl: string;
  /** The root of the server's process tree (for `watchTreeMemory()`). */
  pid: number;
  /** Stops the server and every process of its tree; removes its files. */
  stop(): Promise<void>;
}

/** Options of `waitUntilAnswering()`. */
export interface WaitOptions {
  /** Give up after this many seconds. Default 60. */
  timeoutSeconds?: number;
  /** Resolves when the server has exited: stop waiting at once. */
  exited?: Promise<unknown>;
  /** Which statuses count as up. Default: any below 500. */
  accept?: (status: number) => boolean;
}

/**
 * Polls `url` until it answers with an accepted status. Throws when the
 * time is up or when `exited` resolves first.
 */
export async function waitUntilAnswering(
  url: string,
  options: WaitOptions = {},
): Promise<void> {
  const accept = options.accept ?? ((status: number) => status < 500);
  const timeoutSeconds = options.timeoutSeconds ?? 60;
  const deadline = Date.now() + timeoutSeconds * 1000;
  let gone = false;
  options.exited?.then(() => gone = true);
  let last = "no answer";
  while (Date.now() < deadline) {
    if (gone) throw new Error(`the server exited before answering ${url}`);
    try {
      const response = await fetch(url, {
        signal: AbortSignal.timeout(5_000),
      });
      await response.body?.cancel();
      if (accept(response.status)) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(
    `${url} did not answer within ${timeoutSeconds} s (last: ${last})`,
  );
}

/** Options of `startApacheWsgi()`. */
export interface ApacheOptions {
  /** The WSGI script's absolute path (WSGIScriptAlias's target). */
  script: string;
  /** WSGIScriptAlias's URL prefix. Default "/". */
  prefix?: string;
  /** WSGIDaemonProcess processes=. Default 2. */
  processes?: number;
  /** WSGIDaemonProcess threads=. Default 15 (mod_wsgi's default). */
  threads?: number;
  /**
   * WSGIDaemonProcess python-path= folders, after the script's folder
   * (which is always first).
   */
  pythonPath?: string[];
  /** `Alias url-path directory` lines for static files. */
  aliases?: { urlPath: string; directory: string }[];
  /**
   * Extra variables in the environment of Apache and so of the daemon
   * processes, where Python's `os.environ` sees them (`SetEnv` would only
   * reach the WSGI environ), like `DATABASE_URL`.
   */
  env?: Record<string, string>;
  /** The URL path polled until it answers. Default: the prefix. */
  readyPath?: string;
  /** Seconds to wait for the first answer. Default 60. */
  timeoutSeconds?: number;
}

/**
 * Starts Apache in the foreground (a child of this process) with the event
 * MPM and mod_wsgi in daemon mode, from a generated httpd.conf in a
 * temporary folder of its own (ServerRoot, PidFile, ErrorLog, sockets):
 *
 * ```apache
 * WSGIRestrictEmbedded On
 * WSGIDaemonProcess bench processes=N threads=15 python-path=...
 * WSGIProcessGroup bench
 * WSGIApplicationGroup %{GLOBAL}
 * WSGIScriptAlias / /path/to/app.wsgi
 * ```
 *
 * Resolves once Apache answers through the daemon processes. Run as root,
 * the daemon processes run as www-data, so the script and python-path
 * folders must be readable by others.
 *
 * @example
 * ```ts ignore
 * const apache = await startApacheWsgi(8400, { script: "/srv/hello.py" });
 * await apache.stop();
 * ```
 */
export async function startApacheWsgi(
  port: number,
  options: ApacheOptions,
): Promise<RunningServer> {
  const modules = DEBIAN_PATHS.modules;
  for (const path of [DEBIAN_PATHS.apache2, `${modules}/mod_wsgi.so`]) {
    if (!await exists(path)) {
      throw new Error(
        `${path} is missing; install Debian's packages with: apt-get install -y apache2 libapache2-mod-wsgi-py3`,
      );
    }
  }
  const prefix = options.prefix ?? "/";
  const processes = options.processes ?? 2;
  const threads = options.threads ?? 15;
  const folder = await Deno.makeTempDir({ prefix: "bench-apache-" });
  // The daemon processes (www-data) connect to sockets in this folder.
  await Deno.chmod(folder, 0o755);
  const scriptFolder = options.script.slice(0, options.script.lastIndexOf("/"));
  const pythonPath = [scriptFolder, ...(options.pythonPath ?? [])].join(":");
  const load = (name: string, file: string) =>
    `LoadModule ${name} ${modules}/${file}`;
  const directories = [
    scriptFolder,
    ...(options.aliases ?? []).map((a) => a.directory),
  ];
  const config = [
    `ServerRoot ${folder}`,
    "ServerName 127.0.0.1",
    `Listen 127.0.0.1:${port}`,
    `PidFile ${folder}/httpd.pid`,
    `ErrorLog ${folder}/error.log`,
    "LogLevel warn",
    `DefaultRuntimeDir ${folder}`,
    `Mutex file:${folder} default`,
    ...(Deno.uid() === 0 ? ["User www-data", "Group www-data"] : []),
    load("mpm_event_module", "mod_mpm_event.so"),
    load("authz_core_module", "mod_authz_core.so"),
    load("mime_module", "mod_mime.so"),
    load("alias_module", "mod_alias.so"),
    load("wsgi_module", "mod_wsgi.so"),
    "TypesConfig /etc/mime.types",
    // Enough Apache threads to hold every connection of the load.
    "StartServers 2",
    "ServerLimit 4",
    "ThreadLimit 64",
    "ThreadsPerChild 64",
    "MinSpareThreads 64",
    "MaxSpareThreads 256",
    "MaxRequestWorkers 256",
    "KeepAlive On",
    "MaxKeepAliveRequests 0",
    // No Python in Apache's own processes: all of it runs in the daemons.
    "WSGIRestrictEmbedded On",
    `WSGISocketPrefix ${folder}/wsgi`,
    `WSGIDaemonProcess bench processes=${processes} threads=${threads} python-path=${pythonPath} display-name=%{GROUP}`,
    "WSGIProcessGroup bench",
    "WSGIApplicationGroup %{GLOBAL}",
    ...(options.aliases ?? []).map((a) => `Alias ${a.urlPath} ${a.directory}`),
    `WSGIScriptAlias ${prefix} ${options.script}`,
    ...[...new Set(directories)].flatMap((directory) => [
      `<Directory ${directory}>`,
      "  Require all granted",
      "</Directory>",
    ]),
    "",
  ].join("\n");
  await Deno.writeTextFile(`${folder}/httpd.conf`, config);
  const child = new Deno.Command(DEBIAN_PATHS.apache2, {
    args: ["-f", `${folder}/httpd.conf`, "-DFOREGROUND"],
    env: options.env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = tail(child.stderr);
  const stop = async () => {
    // SIGTERM: Apache stops its children and mod_wsgi's daemon processes.
    await stopProcessTree(child, { signal: "SIGTERM" });
    await Deno.remove(folder, { recursive: true }).catch(() => {});
  };
  const server: RunningServer = {
    name: "mod_wsgi",
    description:
      `Apache + mod_wsgi daemon mode, event MPM, ${processes} processes x ${threads} threads`,
    baseUrl: `http://127.0.0.1:${port}`,
    pid: child.pid,
    stop,
  };
  try {
    await waitUntilAnswering(server.baseUrl + (options.readyPath ?? prefix), {
      timeoutSeconds: options.timeoutSeconds,
      exited: child.status,
    });
  } catch (error) {
    const log = await Deno.readTextFile(`${folder}/error.log`).catch(() => "");
    await stop();
    throw new Error(
      `Apache + mod_wsgi did not start on port ${port}: ${
        (error as Error).message
      }\n${stderr()}${log}`,
    );
  }
  return server;
}

/** Options of `startGunicorn()`. */
export interface GunicornOptions {
  /** The folder to chdir to (gunicorn --chdir); the app module lives here. */
  directory: string;
  /** The app, like "hello:application" or "flask_example:create_app()". */
  app: string;
  /** Sync workers (gunicorn --workers). Default 2. */
  workers?: number;
  /** More import folders (gunicorn --pythonpath). */
  pythonPath?: string[];
  /**
   * The mount prefix: passed as SCRIPT_NAME, which gunicorn strips from
   * PATH_INFO. Default "/" (none).
   */
  prefix?: string;
  /** Extra environment variables of gunicorn and its workers. */
  env?: Record<string, string>;
  /** The URL path polled until it answers. Default: the prefix. */
  readyPath?: string;
  /** Seconds to wait for the first answer. Default 60. */
  timeoutSeconds?: number;
}

/**
 * Starts Debian's gunicorn (on Debian's python3) with sync workers on
 * 127.0.0.1:`port`, no access log, and resolves once it answers.
 *
 * @example
 * ```ts ignore
 * const gunicorn = await startGunicorn(8401, {
 *   directory: "/srv/apps", app: "hello:application", workers: 2,
 * });
 * await gunicorn.stop();
 * ```
 */
export async function startGunicorn(
  port: number,
  options: GunicornOptions,
): Promise<RunningServer> {
  if (!await exists(DEBIAN_PATHS.gunicorn)) {
    throw new Error(
      `${DEBIAN_PATHS.gunicorn} is missing; install Debian's package with: apt-get install -y gunicorn`,
    );
  }
  const workers = options.workers ?? 2;
  const prefix = options.prefix ?? "/";
  const folder = await Deno.makeTempDir({ prefix: "bench-gunicorn-" });
  const args = [
    "--bind",
    `127.0.0.1:${port}`,
    "--workers",
    String(workers),
    "--worker-class",
    "sync",
    "--backlog",
    "2048",
    "--chdir",
    options.directory,
    "--error-logfile",
    `${folder}/error.log`,
    "--log-level",
    "warning",
    "--worker-tmp-dir",
    folder,
    ...(options.pythonPath?.length
      ? ["--pythonpath", options.pythonPath.join(",")]
      : []),
    options.app,
  ];
  const env: Record<string, string> = {
    ...options.env,
    PYTHONDONTWRITEBYTECODE: "1",
  };
  if (prefix !== "/") env.SCRIPT_NAME = prefix.replace(/\/$/, "");
  const child = new Deno.Command(DEBIAN_PATHS.gunicorn, {
    args,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = tail(child.stderr);
  const stop = async () => {
    // SIGTERM: graceful shutdown of the workers (30 s at most by default).
    await stopProcessTree(child, { signal: "SIGTERM" });
    await Deno.remove(folder, { recursive: true }).catch(() => {});
  };
  const server: RunningServer = {
    name: "gunicorn",
    description: `gunicorn, ${workers} sync workers`,
    baseUrl: `http://127.0.0.1:${port}`,
    pid: child.pid,
    stop,
  };
  try {
    await waitUntilAnswering(server.baseUrl + (options.readyPath ?? prefix), {
      timeoutSeconds: options.timeoutSeconds,
      exited: child.status,
    });
  } catch (error) {
    const log = await Deno.readTextFile(`${folder}/error.log`).catch(() => "");
    await stop();
    throw new Error(
      `gunicorn did not start on port ${port}: ${
        (error as Error).message
      }\n${stderr()}${log}`,
    );
  }
  return server;
}

/** Options of `startCommandServer()`. */
export interface CommandServerOptions {
  /** The port on 127.0.0.1 that the command listens on. */
  port: number;
  /** The server's short name. */
  name: string;
  /** The server's description for the report. */
  description: string;
  /** Working directory. Default: the current one. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** The URL path polled until it answers. Default "/". */
  readyPath?: string;
  /** Which statuses count as up. Default: any below 500. */
  accept?: (status: number) => boolean;
  /** Seconds to wait for the first answer. Default 120. */
  timeoutSeconds?: number;
}

/**
 * Starts `command` (the program, then its arguments) as a server that
 * listens on 127.0.0.1:`options.port` (the command must be told the port
 * through its arguments) and resolves once it answers. Its output is kept
 * for the error message if it fails to start.
 *
 * @example
 * ```ts ignore
 * const server = await startCommandServer(
 *   ["deno", "run", "-A", "server.ts", "--port", "8402"],
 *   { port: 8402, name: "gateway", description: "the gateway" },
 * );
 * await server.stop();
 * ```
 */
export async function startCommandServer(
  command: string[],
  options: CommandServerOptions,
): Promise<RunningServer> {
  const port = options.port;
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = tail(child.stdout);
  const stderr = tail(child.stderr);
  const server: RunningServer = {
    name: options.name,
    description: options.description,
    baseUrl: `http://127.0.0.1:${port}`,
    pid: child.pid,
    stop: () => stopProcessTree(child, { signal: "SIGTERM" }),
  };
  try {
    await waitUntilAnswering(server.baseUrl + (options.readyPath ?? "/"), {
      timeoutSeconds: options.timeoutSeconds ?? 120,
      exited: child.status,
      accept: options.accept,
    });
  } catch (error) {
    await server.stop();
    throw new Error(
      `${options.name} (${command.join(" ")}) did not start on port ${port}: ${
        (error as Error).message
      }\n${stdout()}${stderr()}`,
    );
  }
  return server;
}

/** A free TCP port on 127.0.0.1, as the kernel picks it. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
