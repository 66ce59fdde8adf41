/**
 * The benchmark command (issue 6), `npx -y deno@2.9.6 task bench`: every
 * scenario against every server, on loopback, in one run, with the same
 * load generator, connections and duration; Apache + mod_wsgi is the
 * reference every ratio is taken against.
 *
 * Servers, each with the same number of processes (`--processes`, default
 * 2):
 *
 * - `mod_wsgi`: Debian's Apache (event MPM) with Debian's mod_wsgi in
 *   daemon mode, `processes=N threads=15`;
 * - `gunicorn`: Debian's gunicorn with N sync workers;
 * - `gateway`: this library, started by `startGateway()` below: one
 *   Deno.serve with the app in a group of N Web Workers;
 * - `gateway-parallel`: this library in throughput mode,
 *   `deno serve --parallel` with N isolates, each with an embedded
 *   interpreter, the kernel spreading connections over them (SO_REUSEPORT).
 *
 * Scenarios: hello world; the Flask example's plain, JSON and template
 * routes; a 1 MiB response; a 1 MiB upload; a static file through an
 * alias; Flask reading one PostgreSQL row by primary key through
 * SQLAlchemy Core and pg8000 (`flask-db`: one private PostgreSQL, started
 * by tests/servers.ts for all the servers). The apps are plain Python
 * files in bench/apps/ (and examples/flask-beside-hono/ for Flask), the
 * same files for CPython and Pyodide. Each server's answer is checked once
 * before it is loaded.
 *
 * Writes bench/results/results.json, results.md (a Markdown table) and
 * chart.svg (req/s as a ratio to mod_wsgi, per scenario). `--help` lists
 * the options.
 *
 * Run: npx -y deno@2.9.6 run -A bench/run.ts [--quick] [--duration 5]
 *      [--warmup 2] [--connections 64] [--threads 2] [--processes 2]
 *      [--rounds 1] [--scenarios hello,1MiB-response] (or --scenarios flask-db)
 *      [--servers mod_wsgi,gunicorn,gateway,gateway-parallel] [--gateway bench]
 *      [--out bench/results] [--no-install]
 *
 * Installs Debian's apache2, libapache2-mod-wsgi-py3, gunicorn and wrk
 * with apt-get when they are missing (as root), and the Flask example's
 * pinned packages from PyPI into .cache/ for the Flask scenarios.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { ensurePythonPackages } from "../tests/python_packages.ts";
import {
  cpuTicks,
  DEBIAN_PATHS,
  ensureReferencePackages,
  freePort,
  type MemoryWatch,
  otherCpuPercent,
  processTree,
  referenceVersions,
  type RunningServer,
  startApacheWsgi,
  startCommandServer,
  startGunicorn,
  watchTreeMemory,
} from "./reference.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const APPS = `${ROOT}bench/apps`;
const FLASK_EXAMPLE = `${ROOT}examples/flask-beside-hono`;

// ===========================================================================
// THE GATEWAY HOOK. How the library's servers are started: edit these
// tables (and only these) when the CLI of a gateway server changes.
//
// GATEWAY_COMMANDS: each entry names a Deno script (relative to the
// repository root) and returns how Deno runs it for an app (`deno run`
// with arguments, or `deno serve --parallel` with settings in the
// environment), or undefined when that server cannot serve the app (the
// table then shows a "skipped" row). The server must listen on
// 127.0.0.1:port with `processes` workers (Web Workers or isolates), mount
// `app.script` at `app.prefix` with `gatewayPythonPath` importable, serve
// `app.aliases` itself, and answer `app.readyPath` with 200 once Python is
// ready.
//
// GATEWAY_SERVERS: the library's rows of the table (servers of `SERVERS`)
// and the entry of GATEWAY_COMMANDS each one starts. `gateway` takes the
// entry that `--gateway NAME` picks (default "bench"); `gateway-parallel`
// is always the "parallel" entry.
// ===========================================================================

/** What a gateway command gets. */
interface GatewayArgs {
  /** The port on 127.0.0.1. */
  port: number;
  /**
   * Worker processes (Web Workers, or isolates of `deno serve --parallel`),
   * like the reference servers' processes.
   */
  processes: number;
  /** Folders for the app's imports inside Pyodide (like python-path). */
  pythonPath: string[];
  /** Variables for the interpreters' `os.environ` (e.g. DATABASE_URL). */
  env: Record<string, string>;
}

/** How Deno runs a gateway script for one app. */
interface GatewayLaunch {
  /** Deno's arguments, from the subcommand on ("run", "-A", script, ...). */
  args: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /**
   * With `deno serve --parallel`: a file (set by `startGateway()`) that
   * each of the `processes` isolates appends one line to once its
   * interpreter is ready; the server counts as started when it has them
   * all.
   */
  readyFileEnv?: string;
}

/** How to start a gateway server. */
interface GatewayCommand {
  /** The Deno script, relative to the repository root. */
  script: string;
  /** How it runs for `app`, or undefined when it cannot serve `app`. */
  launch(app: AppSpec, options: GatewayArgs): GatewayLaunch | undefined;
  /** The report's description, before the Deno and Pyodide versions. */
  describe(processes: number): string;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const webWorkers = (script: string) => (processes: number) =>
  `the gateway (${script}), ${plural(processes, "Web Worker")}`;

const GATEWAY_COMMANDS: Record<string, GatewayCommand> = {
  // Any WSGI script at any prefix, its python-path and aliases, behind
  // Deno.serve and the library's own router.
  bench: {
    script: "bench/gateway_server.ts",
    launch: (app, { port, processes, pythonPath, env }) => ({
      args: [
        ...serverArgs("bench/gateway_server.ts", app, port, processes),
        ...pythonPath.flatMap((folder) => ["--python-path", folder]),
        ...Object.entries(env).flatMap(([name, value]) => [
          "--env",
          `${name}=${value}`,
        ]),
        ...(app.aliases ?? []).flatMap(({ urlPath, directory }) => [
          "--alias",
          `${urlPath}=${directory}`,
        ]),
      ],
    }),
    describe: webWorkers("bench/gateway_server.ts"),
  },
  // The same job in throughput mode: `deno serve --parallel`, one isolate
  // with an embedded interpreter per process, the kernel spreading the
  // connections over them (SO_REUSEPORT); settings in the environment.
  parallel: {
    script: "bench/parallel_server.ts",
    launch: (app, { port, processes, pythonPath, env }) => ({
      args: [
        "serve",
        "--parallel",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "-A",
        `${ROOT}bench/parallel_server.ts`,
      ],
      env: {
        DENO_JOBS: String(processes),
        WSGI_BENCH_APP: app.script,
        WSGI_BENCH_PREFIX: app.prefix,
        WSGI_BENCH_PYTHON_PATH: pythonPath.join(":"),
        WSGI_BENCH_ALIASES: (app.aliases ?? []).map(({ urlPath, directory }) =>
          `${urlPath}=${directory}`
        ).join(","),
        WSGI_BENCH_ENV: JSON.stringify(env),
      },
      readyFileEnv: "WSGI_BENCH_READY_FILE",
    }),
    describe: (processes) =>
      `the gateway in throughput mode (bench/parallel_server.ts): deno serve --parallel, ${
        plural(processes, "isolate")
      }, embedded interpreters`,
  },
  // The demo server (Hono): any WSGI script without extra packages; it
  // serves examples/hello/static/media/ at /media/ itself.
  demo: {
    script: "examples/server.ts",
    launch: (app, { port, processes, pythonPath, env }) =>
      pythonPath.length > 0 || Object.keys(env).length > 0 ? undefined : {
        args: serverArgs("examples/server.ts", app, port, processes),
      },
    describe: webWorkers("examples/server.ts"),
  },
  // The Flask example's own server (Hono, Flask at /app): the Flask app only.
  "flask-example": {
    script: "examples/flask-beside-hono/server.ts",
    launch: (app, { port, processes }) =>
      app.id !== "flask" ? undefined : {
        args: [
          "run",
          "-A",
          `${ROOT}examples/flask-beside-hono/server.ts`,
          "--port",
          String(port),
          "--processes",
          String(processes),
        ],
      },
    describe: webWorkers("examples/flask-beside-hono/server.ts"),
  },
};

/** `deno run` of a gateway script that takes --port, --processes, --app and --prefix. */
function serverArgs(
  script: string,
  app: AppSpec,
  port: number,
  processes: number,
): string[] {
  return [
    "run",
    "-A",
    `${ROOT}${script}`,
    "--port",
    String(port),
    "--processes",
    String(processes),
    "--app",
    app.script,
    "--prefix",
    app.prefix,
  ];
}

/** The entry of `GATEWAY_COMMANDS` of the `gateway` row (--gateway). */
let gatewayName = "bench";

/** The library's servers in the table, and the command each one runs. */
const GATEWAY_SERVERS = {
  gateway: { command: () => gatewayName },
  "gateway-parallel": { command: () => "parallel" },
} as const;

/** A scenario's row when a server is not run for it. */
interface Skipped {
  /** Why, for the table. */
  skipped: string;
}

/** How long a gateway may take to answer (Pyodide's start included). */
const GATEWAY_TIMEOUT_SECONDS = 180;

/**
 * Starts the gateway server `server` (a key of `GATEWAY_SERVERS`) for `app`
 * on 127.0.0.1:`port` with `processes` workers, with its entry of
 * `GATEWAY_COMMANDS`, and resolves once it answers `app.readyPath` with 200
 * (Pyodide's start included, 180 s at most). For `deno serve --parallel`,
 * one 200 comes from the first isolate that is ready: it then also waits
 * until every isolate has reported its interpreter ready, and checks that
 * 20 more requests, each on a new connection (so the kernel spreads them),
 * all answer 200. Resolves to `{ skipped }` instead, for a "gateway not
 * available yet" row, when the command's script does not exist or cannot
 * serve the app; throws when the server fails to start.
 */
async function startGateway(
  server: keyof typeof GATEWAY_SERVERS,
  app: AppSpec,
  port: number,
  processes: number,
  appEnv: Record<string, string>,
): Promise<RunningServer | Skipped> {
  const command = GATEWAY_COMMANDS[GATEWAY_SERVERS[server].command()];
  try {
    await Deno.stat(`${ROOT}${command.script}`);
  } catch {
    return {
      skipped: `gateway not available yet (${command.script} does not exist)`,
    };
  }
  const pythonPath = await app.gatewayPythonPath?.() ?? [];
  const launch = command.launch(app, {
    port,
    processes,
    pythonPath,
    env: appEnv,
  });
  if (!launch) {
    return {
      skipped:
        `gateway not available yet (${command.script} cannot serve the ${app.id} app)`,
    };
  }
  const env = { ...launch.env };
  let readyFile: string | undefined;
  if (launch.readyFileEnv) {
    readyFile = await Deno.makeTempFile({ prefix: "bench-ready-" });
    env[launch.readyFileEnv] = readyFile;
  }
  const deadline = Date.now() + GATEWAY_TIMEOUT_SECONDS * 1000;
  try {
    const running = await startCommandServer(
      [Deno.execPath(), ...launch.args],
      {
        port,
        name: server,
        description: `${
          command.describe(processes)
        }, Deno ${Deno.version.deno}, ${await pyodideVersion()}`,
        cwd: ROOT,
        env,
        readyPath: app.readyPath,
        accept: (status) => status === 200,
        timeoutSeconds: GATEWAY_TIMEOUT_SECONDS,
      },
    );
    if (readyFile) {
      try {
        await waitForIsolates(running, readyFile, processes, deadline);
        await checkSpread(running.baseUrl + app.readyPath, 20);
      } catch (error) {
        await running.stop().catch(() => {});
        throw new Error(
          `${server} (${command.script}) did not start on port ${port}: ${
            (error as Error).message
          }`,
        );
      }
    }
    return running;
  } finally {
    if (readyFile) await Deno.remove(readyFile).catch(() => {});
  }
}

/**
 * Waits until `file` has `count` lines (one per ready isolate), until
 * `deadline` (a Date.now() value) at most; throws when the server's
 * process is gone or the time is up.
 */
async function waitForIsolates(
  server: RunningServer,
  file: string,
  count: number,
  deadline: number,
): Promise<void> {
  let ready = 0;
  while (true) {
    const text = await Deno.readTextFile(file).catch(() => "");
    ready = text.split("\n").filter(Boolean).length;
    if (ready >= count) return;
    if (processTree(server.pid).length === 0) {
      throw new Error(
        `the server exited with ${ready}/${count} isolates ready`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${ready}/${count} isolates were ready after ${GATEWAY_TIMEOUT_SECONDS} s`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * GETs `url` `times` times, each on a new connection (no idle connection
 * is kept), and throws unless all answer 200: with SO_REUSEPORT the kernel
 * picks a listening socket per connection, so the requests reach the
 * isolates at random.
 */
async function checkSpread(url: string, times: number): Promise<void> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    for (let i = 0; i < times; i++) {
      const response = await fetch(url, {
        client,
        signal: AbortSignal.timeout(30_000),
      });
      await response.body?.cancel();
      if (response.status !== 200) {
        throw new Error(
          `request ${i + 2} to ${url} answered ${response.status}, wanted 200`,
        );
      }
    }
  } finally {
    client.close();
  }
}

// ===========================================================================
// Apps and scenarios
// ===========================================================================

/** The servers, in the order of the table. */
const SERVERS = [
  "mod_wsgi",
  "gunicorn",
  "gateway",
  "gateway-parallel",
] as const;
/** One of `SERVERS`. */
type ServerName = typeof SERVERS[number];

/**
 * A WSGI app as every server loads it. Scenarios that share an app share
 * its servers: they start once for all of them.
 */
interface AppSpec {
  /** Short name. */
  id: string;
  /**
   * The app's folder: gunicorn's --chdir, first on Apache's python-path.
   */
  directory: string;
  /** The WSGI file: Apache's WSGIScriptAlias target and the gateway's app. */
  script: string;
  /** gunicorn's app, importable from `directory`: "module:callable". */
  gunicornApp: string;
  /** Where the app is mounted: "/" or a prefix like "/app". */
  prefix: string;
  /** A GET path that answers 200 once the app is ready. */
  readyPath: string;
  /**
   * More import folders for CPython (Apache's python-path, gunicorn's
   * --pythonpath), like a `pip install --target` folder of the app's
   * packages; called (and may install them) before the servers start.
   */
  cpythonPath?: () => Promise<string[]>;
  /**
   * Import folders for Pyodide (the gateway's python-path), like a
   * `pip install --target` folder of pure-Python wheels for Python 3.14.
   */
  gatewayPythonPath?: () => Promise<string[]>;
  /**
   * Starts what the app needs beside the servers (a database) once, before
   * its servers start, and returns the variables every server puts in the
   * app's `os.environ` (mod_wsgi's and gunicorn's process environment, the
   * gateway's group `env`), and how to stop it after them.
   */
  prepare?: () => Promise<PreparedApp>;
  /** Static folders: `Alias urlPath directory` on Apache and the gateway. */
  aliases?: { urlPath: string; directory: string }[];
}

/** What an app's `prepare()` started. */
interface PreparedApp {
  /** Variables for the app's `os.environ` on every server. */
  env: Record<string, string>;
  /** Stops what was started (after the app's servers). */
  stop(): Promise<void>;
}

/** One measured request against every server. */
interface Scenario {
  /** Short name, for --scenarios. */
  id: string;
  /** Name in the table. */
  title: string;
  /** The app that answers it. */
  app: AppSpec;
  /** The URL path (with the query). */
  path: string;
  /** A request body of this many bytes, POSTed. */
  bodyBytes?: number;
  /** Checks one response before the load; returns what is wrong, if anything. */
  check(status: number, body: Uint8Array): string | undefined;
  /** Servers that cannot run this scenario, with the reason. */
  notApplicable?: Partial<Record<ServerName, string>>;
}

const MIB = 1024 * 1024;
const text = (body: Uint8Array) => new TextDecoder().decode(body);
const expectStatus = (status: number, wanted = 200) =>
  status === wanted ? undefined : `status ${status}, wanted ${wanted}`;

/** A WSGI file of bench/apps/, at `/`. */
function benchApp(id: string, module: string): AppSpec {
  return {
    id,
    directory: APPS,
    script: `${APPS}/${module}.py`,
    gunicornApp: `${module}:application`,
    prefix: "/",
    readyPath: "/",
  };
}

const HELLO_STATIC = `${ROOT}examples/hello/static/media`;
const HELLO: AppSpec = {
  ...benchApp("hello", "hello"),
  // The demo server serves this folder at /media/.
  aliases: [{ urlPath: "/media/", directory: `${HELLO_STATIC}/` }],
};

/**
 * The Flask example (examples/flask-beside-hono/, mounted at /app), with
 * the pinned packages of tests/requirements.txt installed by pip from
 * PyPI: for Debian's python3 (which mod_wsgi and gunicorn run) into
 * .cache/site-packages-cpython, for Pyodide into .cache/site-packages.
 *
 * The hook for framework apps: another app needs its folder, its WSGI file
 * there, its gunicorn module and its packages' folders for both Pythons.
 */
function flaskApp(options: {
  directory?: string;
  cpythonPath?: () => Promise<string[]>;
  gatewayPythonPath?: () => Promise<string[]>;
} = {}): AppSpec {
  const directory = options.directory ?? FLASK_EXAMPLE;
  return {
    id: "flask",
    directory,
    script: `${directory}/app.wsgi`,
    gunicornApp: "flask_example:create_app()",
    prefix: "/app",
    readyPath: "/app/api/items",
    cpythonPath: options.cpythonPath ?? (async () => [
      await ensurePythonPackages({
        forHost: true,
        python: DEBIAN_PATHS.python,
      }),
    ]),
    gatewayPythonPath: options.gatewayPythonPath ??
      (async () => [await ensurePythonPackages()]),
  };
}

const FLASK = flaskApp();

/**
 * bench/apps/flask_db.py: Flask, SQLAlchemy Core and pg8000 (pure Python,
 * the same driver on every server) on one private PostgreSQL that
 * tests/servers.ts starts on loopback for all the servers of the run. Each
 * process may hold 10 connections (`BENCH_DB_POOL`): that PostgreSQL
 * allows 40, and mod_wsgi's 2 x 15 threads, gunicorn's, the gateway's and
 * gateway-parallel's pools are all open at once; 10 per process is more
 * than 2 cores keep busy.
 */
const FLASK_DB: AppSpec = {
  ...benchApp("flask-db", "flask_db"),
  cpythonPath: FLASK.cpythonPath,
  gatewayPythonPath: FLASK.gatewayPythonPath,
  prepare: async () => {
    const { startPostgres } = await import("../tests/servers.ts");
    const postgres = await startPostgres();
    return {
      env: { DATABASE_URL: postgres.url, BENCH_DB_POOL: "10" },
      stop: () => postgres.stop(),
    };
  },
};

const notDifferent = (body: Uint8Array, wanted: string) =>
  text(body) === wanted ? undefined : `body "${text(body).slice(0, 80)}"`;

function jsonCheck(
  test: (json: Record<string, unknown>) => boolean,
): Scenario["check"] {
  return (status, body) => {
    if (status !== 200) return expectStatus(status);
    try {
      return test(JSON.parse(text(body)))
        ? undefined
        : `unexpected JSON ${text(body).slice(0, 120)}`;
    } catch {
      return `not JSON: ${text(body).slice(0, 80)}`;
    }
  };
}

/** Every scenario, in the order of the table (issue 6's order). */
const SCENARIOS: Scenario[] = [
  {
    id: "hello",
    title: "hello world",
    app: HELLO,
    path: "/",
    check: (status, body) =>
      expectStatus(status) ?? notDifferent(body, "Hello World!"),
  },
  {
    // The example has no text route: its smallest one, a 2-key JSON.
    id: "flask-plain",
    title: "Flask plain (/api/whoami)",
    app: FLASK,
    path: "/app/api/whoami",
    check: jsonCheck((json) => json.visits === 0 && json.user === null),
  },
  {
    id: "flask-json",
    title: "Flask JSON (/api/items)",
    app: FLASK,
    path: "/app/api/items",
    check: jsonCheck((json) =>
      json.count === 4 && json.link === "/app/api/items"
    ),
  },
  {
    id: "flask-template",
    title: "Flask template (/hello/world)",
    app: FLASK,
    path: "/app/hello/world",
    check: (status, body) =>
      expectStatus(status) ??
        (text(body).includes("Hello, world!") &&
            text(body).includes("Teapot")
          ? undefined
          : `body "${text(body).slice(0, 80)}"`),
  },
  {
    id: "1MiB-response",
    title: "1 MiB response",
    app: benchApp("big-response", "big_response"),
    path: "/",
    check: (status, body) =>
      expectStatus(status) ??
        (body.length === MIB
          ? undefined
          : `${body.length} bytes, wanted ${MIB}`),
  },
  {
    id: "1MiB-upload",
    title: "1 MiB upload",
    app: benchApp("upload", "upload"),
    path: "/",
    bodyBytes: MIB,
    check: (status, body) =>
      expectStatus(status) ?? notDifferent(body, String(MIB)),
  },
  {
    id: "static-alias",
    title: "static file (36 B) through an alias",
    app: HELLO,
    path: "/media/site.css",
    check: (status, body) =>
      expectStatus(status) ??
        notDifferent(body, Deno.readTextFileSync(`${HELLO_STATIC}/site.css`)),
    notApplicable: { gunicorn: "gunicorn serves no static files" },
  },
  {
    id: "flask-db",
    title: "Flask + PostgreSQL, 1 row by key (SQLAlchemy Core, pg8000)",
    app: FLASK_DB,
    path: "/row/42",
    check: jsonCheck((json) =>
      json.id === 42 && json.name === "item 42" && json.price === 52.5 &&
      json.note === "row 42 of 1000, caf\u00e9 \u2713"
    ),
  },
];

// ===========================================================================
// Results
// ===========================================================================

/** One row of the table: a scenario on a server. */
export interface ResultRow {
  scenario: string;
  title: string;
  server: ServerName;
  /** "ok", or why there is no measurement. */
  status: "ok" | "skipped" | "failed";
  reason?: string;
  /** The median round's figures (by req/s). */
  requestsPerSecond?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Peak over the scenario's runs of the sums over the server's process tree. */
  peakRssBytes?: number;
  peakPssBytes?: number;
  /** The most processes the server's tree had meanwhile. */
  processes?: number;
  /** Responses that were not 2xx/3xx, and socket errors, over all rounds. */
  non2xx?: number;
  socketErrors?: number;
  /**
   * The most CPU (% of the machine) that processes outside the benchmark
   * used during one of the measured runs: a busy neighbour's mark.
   */
  otherCpuPercent?: number;
  /** req/s divided by mod_wsgi's on the same scenario. */
  ratioVsModWsgi?: number;
  /** Every round's wrk result. */
  rounds?: WrkResult[];
}

/** The whole result file. */
export interface BenchResults {
  date: string;
  machine: {
    nproc: number;
    cpu: string;
    kernel: string;
    memoryBytes: number;
  };
  settings: {
    connections: number;
    threads: number;
    durationSeconds: number;
    warmupSeconds: number;
    rounds: number;
    processes: number;
  };
  versions: Record<string, string>;
  servers: Partial<Record<ServerName, string>>;
  rows: ResultRow[];
}

let pyodide: string | undefined;
async function pyodideVersion(): Promise<string> {
  if (!pyodide) {
    try {
      const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
      const spec: string = config.imports?.pyodide ?? "";
      pyodide = `Pyodide ${spec.split("@").pop() || "?"}`;
    } catch {
      pyodide = "Pyodide ?";
    }
  }
  return pyodide;
}

async function machine(): Promise<BenchResults["machine"]> {
  const nproc = await new Deno.Command("nproc", { stdout: "piped" }).output()
    .then((o) => Number(new TextDecoder().decode(o.stdout).trim()))
    .catch(() => navigator.hardwareConcurrency);
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  return {
    nproc,
    cpu: cpuinfo.match(/model name\s*:\s*(.*)/)?.[1]?.trim() ?? "unknown CPU",
    kernel: `${Deno.build.os} ${Deno.osRelease()}`,
    memoryBytes: Number(meminfo.match(/MemTotal:\s+(\d+) kB/)?.[1] ?? 0) * 1024,
  };
}

function mib(bytes?: number): string {
  return bytes === undefined ? "–" : `${(bytes / MIB).toFixed(1)} MiB`;
}

function ms(value?: number): string {
  if (value === undefined || Number.isNaN(value)) return "–";
  return value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(2)} ms`;
}

/** The Markdown report: settings, servers and one table row per result. */
function renderMarkdown(results: BenchResults): string {
  const { settings, machine, versions } = results;
  const lines = [
    "# Benchmark: the gateway against Apache + mod_wsgi and gunicorn",
    "",
    `${
      results.date.slice(0, 16).replace("T", " ")
    } UTC, ${machine.nproc} cores (${machine.cpu}), ${
      (machine.memoryBytes / 1024 ** 3).toFixed(1)
    } GiB RAM, ${machine.kernel}.`,
    `Load: wrk ${versions.wrk} -t${settings.threads} -c${settings.connections} -d${settings.durationSeconds}s --latency on 127.0.0.1, after a ${settings.warmupSeconds} s warm-up; ${settings.rounds} round${
      settings.rounds === 1 ? "" : "s"
    } (median by req/s). Every server has ${settings.processes} processes. CPU used by processes other than the benchmark's during the measured runs: at most ${
      Math.max(0, ...results.rows.map((row) => row.otherCpuPercent ?? 0))
        .toFixed(1)
    }% of the machine.`,
    "",
    ...SERVERS.filter((name) => results.servers[name]).map((name) =>
      `- **${name}**: ${results.servers[name]}`
    ),
    "",
    "| scenario | server | req/s | p50 | p99 | peak RSS | peak PSS | ratio vs mod_wsgi | errors |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const row of results.rows) {
    if (row.status !== "ok") {
      lines.push(
        `| ${row.title} | ${row.server} | ${row.status}: ${
          (row.reason ?? "").split("\n")[0].replace(/\|/g, "\\|").slice(0, 160)
        } | | | | | | |`,
      );
      continue;
    }
    const errors = (row.non2xx ?? 0) + (row.socketErrors ?? 0);
    lines.push(
      `| ${row.title} | ${row.server} | ${
        Math.round(row.requestsPerSecond ?? 0).toLocaleString("en")
      } | ${ms(row.p50Ms)} | ${ms(row.p99Ms)} | ${mib(row.peakRssBytes)} | ${
        mib(row.peakPssBytes)
      } | ${
        row.ratioVsModWsgi === undefined
          ? "–"
          : `${row.ratioVsModWsgi.toFixed(2)}x`
      } | ${
        errors === 0 ? "0" : `${row.non2xx} non-2xx, ${row.socketErrors} socket`
      } |`,
    );
  }
  lines.push(
    "",
    "Peak RSS is the highest sum of VmRSS over the server's whole process tree " +
      "(sampled every 200 ms from /proc during the warm-up and the measured runs); " +
      "pages shared between forked processes count once per process. Peak PSS " +
      "splits shared pages between the processes that share them. " +
      "Errors are wrk's non-2xx responses and socket errors (connect, read, write, timeout).",
    "",
  );
  return lines.join("\n");
}

function escapeXml(value: string): string {
  return value.replace(
    /[<>&"]/g,
    (c) => `&${{ "<": "lt", ">": "gt", "&": "amp", '"': "quot" }[c]};`,
  );
}

const COLORS: Record<ServerName, string> = {
  mod_wsgi: "#9e9e9e",
  gunicorn: "#5b8def",
  gateway: "#e8833a",
  "gateway-parallel": "#c0392b",
};

/**
 * A bar chart of req/s as a ratio to mod_wsgi, one group of bars per
 * scenario, one bar per server, with a line at 1.0: plain SVG.
 */
function renderChart(results: BenchResults): string {
  const scenarios = [...new Set(results.rows.map((row) => row.scenario))];
  const servers = SERVERS.filter((name) =>
    results.rows.some((row) => row.server === name)
  );
  const ratio = (scenario: string, server: ServerName) =>
    results.rows.find((row) =>
      row.scenario === scenario && row.server === server
    )
      ?.ratioVsModWsgi;
  const values = results.rows.map((row) => row.ratioVsModWsgi ?? 0);
  const top = Math.max(1.5, Math.ceil(Math.max(...values, 0) * 2) / 2);
  const bar = 28;
  const gap = 44;
  const groupWidth = servers.length * bar + gap;
  const left = 50;
  const plotTop = 60;
  const plotHeight = 260;
  const width = Math.max(640, left + scenarios.length * groupWidth + 20);
  const height = plotTop + plotHeight + 70;
  const y = (value: number) =>
    plotTop + plotHeight - (value / top) * plotHeight;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">req/s as a ratio of Apache + mod_wsgi's (daemon mode)</text>`,
    `<text x="${left}" y="38" fill="#555">${
      escapeXml(
        `${
          results.date.slice(0, 10)
        }, ${results.machine.nproc} cores (${results.machine.cpu}), ${results.settings.processes} processes each, wrk -c${results.settings.connections} -d${results.settings.durationSeconds}s`,
      )
    }</text>`,
  ];
  for (let tick = 0; tick <= top + 1e-9; tick += 0.5) {
    out.push(
      `<line x1="${left}" x2="${width - 10}" y1="${y(tick)}" y2="${
        y(tick)
      }" stroke="${tick === 1 ? "#333" : "#e4e4e4"}"${
        tick === 1 ? ' stroke-dasharray="4 3"' : ""
      }/>`,
      `<text x="${left - 6}" y="${y(tick) + 4}" text-anchor="end" fill="#555">${
        tick.toFixed(1)
      }</text>`,
    );
  }
  scenarios.forEach((scenario, i) => {
    const x0 = left + gap / 2 + i * groupWidth;
    servers.forEach((server, j) => {
      const value = ratio(scenario, server);
      const x = x0 + j * bar;
      if (value === undefined) {
        out.push(
          `<text x="${x + bar / 2}" y="${
            y(0) - 4
          }" text-anchor="middle" font-size="9" fill="#999">n/a</text>`,
        );
        return;
      }
      out.push(
        `<rect x="${x + 2}" y="${y(value)}" width="${bar - 4}" height="${
          y(0) - y(value)
        }" fill="${COLORS[server]}"><title>${
          escapeXml(`${server}: ${value.toFixed(2)}x`)
        }</title></rect>`,
        `<text x="${x + bar / 2}" y="${
          y(value) - 3
        }" text-anchor="middle" font-size="9">${value.toFixed(2)}</text>`,
      );
    });
    out.push(
      `<text x="${x0 + (servers.length * bar) / 2}" y="${
        y(0) + 16
      }" text-anchor="middle">${escapeXml(scenario)}</text>`,
    );
  });
  servers.forEach((server, j) => {
    const x = left + j * 130;
    out.push(
      `<rect x="${x}" y="${height - 24}" width="12" height="12" fill="${
        COLORS[server]
      }"/>`,
      `<text x="${x + 17}" y="${height - 14}">${server}</text>`,
    );
  });
  out.push("</svg>", "");
  return out.join("\n");
}

// ===========================================================================
// The run
// ===========================================================================

interface Running {
  name: ServerName;
  server: RunningServer;
  watch: MemoryWatch;
}

const active = new Set<RunningServer>();
/** What apps' `prepare()` started (a database), stopped after the servers. */
const services = new Set<PreparedApp>();

async function startServer(
  name: ServerName,
  app: AppSpec,
  processes: number,
  cpythonPath: string[],
  env: Record<string, string>,
): Promise<RunningServer | Skipped> {
  const port = freePort();
  switch (name) {
    case "mod_wsgi":
      return await startApacheWsgi(port, {
        script: app.script,
        prefix: app.prefix,
        processes,
        threads: 15,
        pythonPath: cpythonPath,
        aliases: app.aliases,
        env,
        readyPath: app.readyPath,
      });
    case "gunicorn":
      return await startGunicorn(port, {
        directory: app.directory,
        app: app.gunicornApp,
        workers: processes,
        pythonPath: cpythonPath,
        prefix: app.prefix,
        env,
        readyPath: app.readyPath,
      });
    case "gateway":
    case "gateway-parallel":
      return await startGateway(name, app, port, processes, env);
  }
}

async function checkOnce(
  server: RunningServer,
  scenario: Scenario,
): Promise<string | undefined> {
  try {
    const response = await fetch(server.baseUrl + scenario.path, {
      method: scenario.bodyBytes ? "POST" : "GET",
      body: scenario.bodyBytes
        ? new Uint8Array(scenario.bodyBytes).fill(0x78)
        : undefined,
      signal: AbortSignal.timeout(30_000),
    });
    const body = new Uint8Array(await response.arrayBuffer());
    return scenario.check(response.status, body);
  } catch (error) {
    return (error as Error).message;
  }
}

function median(runs: WrkResult[]): WrkResult {
  const sorted = [...runs].sort((a, b) =>
    a.requestsPerSecond - b.requestsPerSecond
  );
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      duration: { type: "string" },
      seconds: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string", default: "64" },
      threads: { type: "string", default: "2" },
      processes: { type: "string", default: "2" },
      rounds: { type: "string", default: "1" },
      scenarios: { type: "string" },
      only: { type: "string" },
      gateway: { type: "string", default: "bench" },
      servers: { type: "string" },
      out: { type: "string", default: `${ROOT}bench/results` },
      "no-install": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      `Usage: npx -y deno@2.9.6 run -A bench/run.ts [options]
  --quick               2 s runs, 1 s warm-up (unless --duration/--warmup)
  --duration S          seconds of load per run (default 5; also --seconds)
  --warmup S            seconds of warm-up per server and scenario (default 2; 0: none)
  --connections N       wrk connections (default 64)
  --threads N           wrk threads (default 2)
  --processes N         processes of every server (default 2)
  --rounds N            measure each server N times, in turn; report the median (default 1)
  --scenarios a,b       (also --only) among: ${
        SCENARIOS.map((s) => s.id).join(", ")
      }
  --servers a,b         among: ${SERVERS.join(", ")}
  --gateway NAME        how the gateway row starts: ${
        Object.keys(GATEWAY_COMMANDS).join(", ")
      } (default bench)
  --out DIR             where results.json, results.md and chart.svg go (default bench/results)
  --no-install          do not apt-get missing Debian packages; fail instead`,
    );
    return;
  }
  const number = (value: string, flag: string, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      throw new Error(
        `--${flag} must be a whole number >= ${min}, not "${value}"`,
      );
    }
    return n;
  };
  const settings: BenchResults["settings"] = {
    connections: number(values.connections, "connections", 1),
    threads: number(values.threads, "threads", 1),
    durationSeconds: number(
      values.duration ?? values.seconds ?? (values.quick ? "2" : "5"),
      "duration",
      1,
    ),
    warmupSeconds: number(
      values.warmup ?? (values.quick ? "1" : "2"),
      "warmup",
      0,
    ),
    rounds: number(values.rounds, "rounds", 1),
    processes: number(values.processes, "processes", 1),
  };
  const pick = <T extends string>(
    list: string | undefined,
    known: readonly T[],
    flag: string,
  ) => {
    if (!list) return [...known];
    const chosen = list.split(",").map((s) => s.trim()).filter(Boolean);
    const unknown = chosen.filter((s) => !known.includes(s as T));
    if (unknown.length) {
      throw new Error(
        `--${flag}: unknown ${unknown.join(", ")}; known: ${known.join(", ")}`,
      );
    }
    return chosen as T[];
  };
  const scenarioIds = pick(
    values.scenarios ?? values.only,
    SCENARIOS.map((s) => s.id),
    "scenarios",
  );
  const serverNames = pick(values.servers, SERVERS, "servers");
  if (!GATEWAY_COMMANDS[values.gateway]) {
    throw new Error(
      `--gateway: unknown "${values.gateway}"; known: ${
        Object.keys(GATEWAY_COMMANDS).join(", ")
      }`,
    );
  }
  gatewayName = values.gateway;
  const scenarios = SCENARIOS.filter((s) => scenarioIds.includes(s.id));
  const log = (message: string) => console.error(`[bench] ${message}`);

  const installed = await ensureReferencePackages({
    install: !values["no-install"],
    log,
  });
  if (installed.length) log(`installed ${installed.join(", ")}`);

  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: await machine(),
    settings,
    versions: {
      ...await referenceVersions(),
      deno: Deno.version.deno,
      pyodide: (await pyodideVersion()).replace("Pyodide ", ""),
    },
    servers: {},
    rows: [],
  };
  const rowFor = new Map<string, ResultRow>();
  const row = (scenario: Scenario, server: ServerName) => {
    const key = `${scenario.id}|${server}`;
    let found = rowFor.get(key);
    if (!found) {
      found = {
        scenario: scenario.id,
        title: scenario.title,
        server,
        status: "ok",
      };
      rowFor.set(key, found);
    }
    return found;
  };
  const fail = (
    scenario: Scenario,
    server: ServerName,
    status: "skipped" | "failed",
    reason: string,
  ) => {
    Object.assign(row(scenario, server), { status, reason });
    log(`${scenario.id} on ${server}: ${status}: ${reason.split("\n")[0]}`);
  };

  const apps = [...new Set(scenarios.map((s) => s.app))];
  for (const app of apps) {
    const appScenarios = scenarios.filter((s) => s.app === app);
    let cpythonPath: string[] = [];
    let pathError: string | undefined;
    try {
      cpythonPath = await app.cpythonPath?.() ?? [];
    } catch (error) {
      pathError = `could not prepare the CPython packages: ${
        (error as Error).message
      }`;
    }
    let prepared: PreparedApp | undefined;
    try {
      prepared = await app.prepare?.();
    } catch (error) {
      for (const s of appScenarios) {
        for (const name of serverNames) {
          fail(
            s,
            name,
            "failed",
            `could not start what the ${app.id} app needs: ${
              (error as Error).message
            }`,
          );
        }
      }
      continue;
    }
    if (prepared) services.add(prepared);
    const running: Running[] = [];
    try {
      for (const name of serverNames) {
        const wanted = appScenarios.filter((s) => {
          const reason = s.notApplicable?.[name];
          if (reason) fail(s, name, "skipped", reason);
          return !reason;
        });
        if (wanted.length === 0) continue;
        if (pathError && !(name in GATEWAY_SERVERS)) {
          for (const s of wanted) fail(s, name, "failed", pathError);
          continue;
        }
        log(`starting ${name} for ${app.id}`);
        let started: RunningServer | Skipped;
        try {
          started = await startServer(
            name,
            app,
            settings.processes,
            cpythonPath,
            prepared?.env ?? {},
          );
        } catch (error) {
          for (const s of wanted) {
            fail(s, name, "failed", (error as Error).message);
          }
          continue;
        }
        if ("skipped" in started) {
          for (const s of wanted) fail(s, name, "skipped", started.skipped);
          continue;
        }
        active.add(started);
        const v = results.versions;
        results.servers[name] ??= started.description + {
          mod_wsgi:
            `; Apache ${v.apache}, mod_wsgi ${v.modWsgi} (Debian), Python ${v.python}`,
          gunicorn: `; gunicorn ${v.gunicorn} (Debian), Python ${v.python}`,
          gateway: "",
          "gateway-parallel": "",
        }[name];
        running.push({
          name,
          server: started,
          watch: watchTreeMemory(started.pid),
        });
        // Every process answers once before the load; each scenario's
        // response is checked.
        for (const s of wanted) {
          for (let i = 0; i < 2 * settings.processes; i++) {
            await checkOnce(started, s);
          }
          const problem = await checkOnce(started, s);
          if (problem) fail(s, name, "failed", `wrong response: ${problem}`);
        }
      }
      for (let round = 0; round < settings.rounds; round++) {
        for (const scenario of appScenarios) {
          for (const { name, server, watch } of running) {
            const target = row(scenario, name);
            if (target.status !== "ok" || scenario.notApplicable?.[name]) {
              continue;
            }
            const url = server.baseUrl + scenario.path;
            const load = {
              connections: settings.connections,
              threads: settings.threads,
              bodyBytes: scenario.bodyBytes,
            };
            try {
              watch.reset();
              if (round === 0 && settings.warmupSeconds > 0) {
                await runWrk(url, {
                  ...load,
                  durationSeconds: settings.warmupSeconds,
                });
              }
              const before = cpuTicks();
              const result = await runWrk(url, {
                ...load,
                durationSeconds: settings.durationSeconds,
              });
              const others = otherCpuPercent(before, cpuTicks());
              target.otherCpuPercent = Math.max(
                target.otherCpuPercent ?? 0,
                others,
              );
              const memory = watch.peak();
              target.rounds = [...target.rounds ?? [], result];
              target.peakRssBytes = Math.max(
                target.peakRssBytes ?? 0,
                memory.rssBytes,
              );
              if (memory.pssBytes !== undefined) {
                target.peakPssBytes = Math.max(
                  target.peakPssBytes ?? 0,
                  memory.pssBytes,
                );
              }
              target.processes = Math.max(
                target.processes ?? 0,
                memory.processes,
              );
              log(
                `round ${
                  round + 1
                }/${settings.rounds} ${scenario.id} on ${name}: ${
                  Math.round(result.requestsPerSecond)
                } req/s, p99 ${ms(result.latencyMs.p99)}, peak RSS ${
                  mib(memory.rssBytes)
                }, other processes ${others.toFixed(1)}% CPU`,
              );
            } catch (error) {
              fail(scenario, name, "failed", (error as Error).message);
            }
          }
        }
      }
    } finally {
      for (const { server, watch } of running) {
        watch.stop();
        log(`stopping ${server.name} for ${app.id}`);
        await server.stop().catch((error) =>
          log(`stopping ${server.name}: ${error.message}`)
        );
        active.delete(server);
      }
      if (prepared) {
        log(`stopping what the ${app.id} app needs`);
        await prepared.stop().catch((error) =>
          log(`stopping the ${app.id} app's services: ${error.message}`)
        );
        services.delete(prepared);
      }
    }
  }

  // Medians, ratios, table order.
  for (const scenario of scenarios) {
    for (const name of serverNames) {
      const target = row(scenario, name);
      if (target.status !== "ok") continue;
      if (!target.rounds?.length) {
        Object.assign(target, { status: "failed", reason: "no measurement" });
        continue;
      }
      const mid = median(target.rounds);
      target.requestsPerSecond = mid.requestsPerSecond;
      target.p50Ms = mid.latencyMs.p50;
      target.p99Ms = mid.latencyMs.p99;
      target.non2xx = target.rounds.reduce((n, r) => n + r.non2xx, 0);
      target.socketErrors = target.rounds.reduce(
        (n, r) =>
          n + r.socketErrors.connect + r.socketErrors.read +
          r.socketErrors.write + r.socketErrors.timeout,
        0,
      );
    }
    const reference = rowFor.get(`${scenario.id}|mod_wsgi`);
    for (const name of serverNames) {
      const target = row(scenario, name);
      if (
        target.status === "ok" && reference?.status === "ok" &&
        reference.requestsPerSecond
      ) {
        target.ratioVsModWsgi = target.requestsPerSecond! /
          reference.requestsPerSecond;
      }
      results.rows.push(target);
    }
  }

  await Deno.mkdir(values.out, { recursive: true });
  const outDir = values.out.replace(/\/$/, "");
  await Deno.writeTextFile(
    `${outDir}/results.json`,
    JSON.stringify(results, null, 2) + "\n",
  );
  const markdown = renderMarkdown(results);
  await Deno.writeTextFile(`${outDir}/results.md`, markdown);
  await Deno.writeTextFile(`${outDir}/chart.svg`, renderChart(results));
  console.log(markdown);
  log(`wrote ${outDir}/results.json, results.md and chart.svg`);
  if (results.rows.some((r) => r.status === "failed")) Deno.exitCode = 1;
}

if (import.meta.main) {
  // Ctrl-C: stop the servers started so far before leaving.
  const interrupt = async () => {
    console.error("[bench] interrupted: stopping the servers");
    await Promise.allSettled([...active].map((server) => server.stop()));
    await Promise.allSettled([...services].map((service) => service.stop()));
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupt);
  Deno.addSignalListener("SIGTERM", interrupt);
  try {
    await main();
  } finally {
    Deno.removeSignalListener("SIGINT", interrupt);
    Deno.removeSignalListener("SIGTERM", interrupt);
  }
}
