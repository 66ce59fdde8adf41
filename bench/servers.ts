/**
 * Every server the benchmark can run, as entries of one table
 * (`SERVERS`): the reference servers (Apache + mod_wsgi in daemon mode,
 * gunicorn) and the gateway's variants. An entry only says which command
 * serves a site; `startServer()` is the one way to start any of them, wait
 * until it answers, and stop its whole process tree.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { exists, spawnCollected, waitFor } from "../tests/helpers.ts";
import { freePort } from "../tests/servers.ts";
import { stopTree } from "./measure.ts";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** A static folder served beside the app: `Alias urlPath directory`. */
export interface Alias {
  urlPath: string;
  directory: string;
}

/** A WSGI app as every server loads it; see bench/scenarios.ts. */
export interface App {
  id: string;
  /** gunicorn's --chdir, first on mod_wsgi's python-path. */
  directory: string;
  /** Apache's WSGIScriptAlias target and the gateway's app. */
  script: string;
  /** gunicorn's "module:callable", importable from `directory`. */
  gunicornApp: string;
  /** Where it is mounted: "/" or a prefix like "/app". */
  prefix: string;
  /** A GET path that answers 200 once the app is ready. */
  readyPath: string;
}

/** What an app needs on this run besides its files (scenarios.ts). */
export interface Needs {
  /** Import folders for CPython (python-path, --pythonpath) and Pyodide. */
  cpythonPath: string[];
  pyodidePath: string[];
  /** The app's `os.environ` additions, like DATABASE_URL. */
  env: Record<string, string>;
  aliases: Alias[];
  /** Stops what was started for the app, after its servers. */
  stop?: () => Promise<void>;
}

/** An app with what it needs on this run. */
export interface Site extends Needs {
  app: App;
}

/** What every server of a run shares. */
export interface ServerSettings {
  /** mod_wsgi daemon processes = gunicorn workers = Web Workers = isolates. */
  processes: number;
  modWsgiThreads: number;
  /** defineGroup() options of the gateway's variants, over theirs. */
  group: Record<string, unknown>;
  /** More `WSGIDaemonProcess` options, such as "request-timeout=3". */
  modWsgiDaemonOptions?: string[];
}

/** How a server runs for one site. */
export interface Launch {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /**
   * For `deno serve --parallel`: the isolates that must each append a line
   * to `<folder>/ready` before the server counts as started.
   */
  isolates?: number;
}

/** Where and how a server is launched. */
interface LaunchOptions {
  settings: ServerSettings;
  port: number;
  folder: string;
}

/** One entry of `SERVERS`. */
interface ServerKind {
  /** The report's line. */
  describe(settings: ServerSettings, versions: Record<string, string>): string;
  /**
   * The command for `site` on 127.0.0.1:`port`, with `folder` (a fresh
   * temporary folder, removed at stop) for its files; or why it cannot
   * serve the site, for a "skipped" row.
   */
  launch(
    site: Site,
    options: LaunchOptions,
  ): Promise<Launch | string> | Launch | string;
  /** Debian packages it needs: name and a file the package installs. */
  packages?: [string, string][];
}

const APACHE = "/usr/sbin/apache2";
const MODULES = "/usr/lib/apache2/modules";
const GUNICORN = "/usr/bin/gunicorn";
export const PYTHON = "/usr/bin/python3";
export const GATEWAY_SERVER = `${ROOT}bench/gateway_server.ts`;
const HELLO_MEDIA = `${ROOT}examples/hello/static/media`;

const plural = (n: number, word: string, words = `${word}s`) =>
  `${n} ${n === 1 ? word : words}`;

/** The only Apache configuration read: Debian's defaults play no part. */
function apacheConfig(
  site: Site,
  { settings, port, folder }: LaunchOptions,
): string {
  const { app, aliases } = site;
  const folders = [app.directory, ...site.cpythonPath].join(":");
  const directories = new Set([
    app.script.slice(0, app.script.lastIndexOf("/")),
    ...aliases.map((a) => a.directory),
  ]);
  const load = (name: string) =>
    `LoadModule ${name}_module ${MODULES}/mod_${name}.so`;
  return [
    `ServerRoot ${folder}`,
    "ServerName 127.0.0.1",
    `Listen 127.0.0.1:${port}`,
    `PidFile ${folder}/httpd.pid`,
    `ErrorLog ${folder}/error.log`,
    "LogLevel warn",
    `DefaultRuntimeDir ${folder}`,
    `Mutex file:${folder} default`,
    ...(Deno.uid() === 0 ? ["User www-data", "Group www-data"] : []),
    ...["mpm_event", "authz_core", "mime", "alias", "wsgi"].map(load),
    "TypesConfig /etc/mime.types",
    // Enough threads to hold every connection of the load.
    "StartServers 2",
    "ServerLimit 4",
    "ThreadLimit 64",
    "ThreadsPerChild 64",
    "MinSpareThreads 64",
    "MaxSpareThreads 256",
    "MaxRequestWorkers 256",
    "KeepAlive On",
    "MaxKeepAliveRequests 0",
    // Static files at Apache's best: the kernel copies them.
    "EnableSendfile On",
    // No Python in Apache's own processes: all of it runs in the daemons.
    "WSGIRestrictEmbedded On",
    `WSGISocketPrefix ${folder}/wsgi`,
    [
      `WSGIDaemonProcess bench processes=${settings.processes} threads=${settings.modWsgiThreads} python-path=${folders} display-name=%{GROUP}`,
      ...settings.modWsgiDaemonOptions ?? [],
    ].join(" "),
    "WSGIProcessGroup bench",
    "WSGIApplicationGroup %{GLOBAL}",
    ...aliases.map((a) => `Alias ${a.urlPath} ${a.directory}`),
    `WSGIScriptAlias ${app.prefix} ${app.script}`,
    ...[...directories].map((directory) =>
      `<Directory ${directory}>\n  Require all granted\n</Directory>`
    ),
    "",
  ].join("\n");
}

/**
 * A gateway variant: bench/gateway_server.ts with the site, these group
 * options (under `--group`'s) and router, under `deno run`, or under
 * `deno serve --parallel` with one isolate per process.
 */
function gateway(
  variant: {
    group?: Record<string, unknown>;
    router?: "hono";
    front?: "Deno.serve";
    parallel?: boolean;
  },
  describe: (processes: number) => string,
): ServerKind {
  return {
    describe: ({ processes, group }, versions) =>
      `${describe(processes)}${
        Object.keys(group).length ? `, group ${JSON.stringify(group)}` : ""
      }, Deno ${versions.deno}, Pyodide ${versions.pyodide}`,
    launch(site, { settings, port, folder }): Launch {
      const config = {
        app: site.app.script,
        prefix: site.app.prefix,
        pythonPath: site.pyodidePath,
        aliases: site.aliases,
        env: site.env,
        router: variant.router,
        front: variant.front,
        group: {
          processes: settings.processes,
          ...variant.group,
          ...settings.group,
        },
      };
      const parallel = variant.parallel;
      return {
        command: Deno.execPath(),
        args: parallel
          ? ["serve", "--parallel", "-A", "--host", "127.0.0.1", "--port"]
            .concat(String(port), GATEWAY_SERVER)
          // bench/isolation_cost.ts runs `isolation: "thread"` workers too.
          : ["run", "-A", "--unstable-worker-options", GATEWAY_SERVER],
        env: {
          ...parallel ? { DENO_JOBS: String(settings.processes) } : {},
          BENCH_GATEWAY: JSON.stringify({
            ...config,
            ...parallel ? { readyFile: `${folder}/ready` } : { port },
          }),
        },
        isolates: parallel ? settings.processes : undefined,
      };
    },
  };
}

/** An example's own server, which takes --port and --processes. */
function example(
  script: string,
  serves: (site: Site) => string[] | undefined,
): ServerKind {
  return {
    describe: ({ processes }, versions) =>
      `the gateway (${script}), ${
        plural(processes, "worker process", "worker processes")
      }, Deno ${versions.deno}, Pyodide ${versions.pyodide}`,
    launch(site, { settings, port }) {
      const args = serves(site);
      if (!args) return `${script} cannot serve the ${site.app.id} app`;
      return {
        command: Deno.execPath(),
        args: ["run", "-A", `${ROOT}${script}`, "--port", String(port)]
          .concat("--processes", String(settings.processes), args),
      };
    },
  };
}

/**
 * The servers, in the order of the table. The first five run by default;
 * `mod_wsgi` is the reference every ratio is taken against.
 */
export const SERVERS: Record<string, ServerKind> = {
  mod_wsgi: {
    packages: [
      ["apache2", APACHE],
      ["libapache2-mod-wsgi-py3", `${MODULES}/mod_wsgi.so`],
    ],
    describe: ({ processes, modWsgiThreads }, v) =>
      `Apache + mod_wsgi daemon mode, event MPM, ${processes} processes x ${modWsgiThreads} threads; Apache ${v.apache}, mod_wsgi ${v.modWsgi} (Debian), Python ${v.python}`,
    async launch(site, options) {
      const config = `${options.folder}/httpd.conf`;
      await Deno.writeTextFile(config, apacheConfig(site, options));
      // mod_wsgi's daemons see the server's environment in os.environ;
      // SetEnv would only reach the WSGI environ.
      return {
        command: APACHE,
        args: ["-f", config, "-DFOREGROUND"],
        env: site.env,
      };
    },
  },
  gunicorn: {
    packages: [["gunicorn", GUNICORN]],
    describe: ({ processes }, v) =>
      `gunicorn, ${processes} sync workers; gunicorn ${v.gunicorn} (Debian), Python ${v.python}`,
    launch: ({ app, cpythonPath, env }, { settings, port, folder }) => ({
      command: GUNICORN,
      args: [
        ...["--bind", `127.0.0.1:${port}`, "--backlog", "2048"],
        ...["--workers", String(settings.processes)],
        ...["--worker-class", "sync", "--chdir", app.directory],
        ...["--error-logfile", `${folder}/error.log`],
        ...["--log-level", "warning", "--worker-tmp-dir", folder],
        ...(cpythonPath.length ? ["--pythonpath", cpythonPath.join(",")] : []),
        app.gunicornApp,
      ],
      // gunicorn strips SCRIPT_NAME from PATH_INFO: the mount prefix.
      env: {
        ...env,
        PYTHONDONTWRITEBYTECODE: "1",
        ...(app.prefix === "/" ? {} : { SCRIPT_NAME: app.prefix }),
      },
    }),
  },
  gateway: gateway(
    {},
    (n) =>
      `the gateway (bench/gateway_server.ts), ${
        plural(n, "worker process", "worker processes")
      }`,
  ),
  "gateway-parallel": gateway(
    { group: { processes: 0 }, parallel: true },
    (n) =>
      `the gateway in throughput mode: deno serve --parallel, ${
        plural(n, "isolate")
      }, embedded interpreters`,
  ),
  "gateway-deno-serve": gateway(
    { front: "Deno.serve" },
    (n) =>
      `the gateway through Deno.serve instead of serve() (no strict parser, no connection limits), ${
        plural(n, "worker process", "worker processes")
      }`,
  ),
  "gateway-embedded": gateway(
    { group: { processes: 0 } },
    () => "the gateway, Python embedded in the server's isolate",
  ),
  "gateway-hono": gateway(
    { router: "hono" },
    (n) =>
      `the gateway on a Hono app, ${
        plural(n, "worker process", "worker processes")
      }`,
  ),
  "gateway-demo": example(
    "examples/server.ts",
    (site) =>
      site.pyodidePath.length || Object.keys(site.env).length ||
        site.aliases.some((a) => !a.directory.startsWith(HELLO_MEDIA))
        ? undefined
        : ["--app", site.app.script, "--prefix", site.app.prefix],
  ),
  "gateway-flask-example": example(
    "examples/flask-beside-hono/server.ts",
    (site) => site.app.id === "flask" ? [] : undefined,
  ),
};

/** The Debian packages the chosen servers and wrk need that are not installed. */
export function missingPackages(servers: string[]): string[] {
  const wanted = [
    ["wrk", "/usr/bin/wrk"],
    ...servers.flatMap((name) => SERVERS[name].packages ?? []),
  ];
  return wanted.filter(([, path]) => !exists(path)).map(([name]) => name);
}

/** A server started by `startServer()`, on 127.0.0.1. */
export interface RunningServer {
  name: string;
  baseUrl: string;
  /** The root of its process tree. */
  pid: number;
  /** From the launch to the first 200 on the ready path. */
  readyMs: number;
  /** Ends its whole process tree and removes its folder. */
  stop(): Promise<void>;
}

const START_SECONDS = 180;

/**
 * Starts `name` (a key of `SERVERS`) for `site` on a free port and resolves
 * once `site.app.readyPath` answers 200; `{ skipped }` when the server
 * cannot serve the site. See `launchServer()`.
 */
export async function startServer(
  name: string,
  site: Site,
  settings: ServerSettings,
): Promise<RunningServer | { skipped: string }> {
  const folder = await Deno.makeTempDir({ prefix: `bench-${name}-` });
  const port = freePort();
  const launch = await SERVERS[name].launch(site, { settings, port, folder });
  if (typeof launch === "string") {
    await Deno.remove(folder, { recursive: true });
    return { skipped: launch };
  }
  return await launchServer(name, launch, {
    port,
    folder,
    readyPath: site.app.readyPath,
  });
}

/**
 * The one way a benchmark server starts: runs `launch` from the checkout,
 * with `folder` (a new temporary one by default, removed at stop) for its
 * files, and resolves once
 * `readyPath` on 127.0.0.1:`port` answers 200 (Pyodide's start included,
 * 180 s at most). Under `deno serve --parallel`, one 200 comes from the
 * first isolate that is ready, so it also waits until every isolate has
 * said so and checks that 20 requests on new connections (which the kernel
 * spreads) all answer 200. Throws, with the server's output, when it does
 * not start.
 */
export async function launchServer(
  name: string,
  launch: Launch,
  { port, folder, readyPath }: {
    port: number;
    folder?: string;
    readyPath: string;
  },
): Promise<RunningServer> {
  // A name like "node:http" (bench/front_overhead.ts) is no file name.
  const prefix = `bench-${name.replace(/[^\w.-]/g, "_")}-`;
  folder ??= await Deno.makeTempDir({ prefix });
  // Run as root, Apache's daemons run as www-data and use this folder.
  await Deno.chmod(folder, 0o755);
  const launched = performance.now();
  const { child, output } = spawnCollected(launch.command, {
    args: launch.args,
    env: launch.env,
    cwd: ROOT,
    stdin: "null",
  });
  let exited = false;
  child.status.then(() => exited = true);
  const server: RunningServer = {
    name,
    baseUrl: `http://127.0.0.1:${port}`,
    pid: child.pid,
    readyMs: NaN,
    async stop() {
      await stopTree(child);
      await Deno.remove(folder, { recursive: true }).catch(() => {});
    },
  };
  const url = server.baseUrl + readyPath;
  /** Waits until `done()`, unless the server exits first or 180 s pass. */
  const until = (what: string, done: () => Promise<boolean>) =>
    waitFor(
      async () => {
        if (exited) throw new Error(`it exited before ${what}`);
        return await done();
      },
      START_SECONDS * 1000,
      what,
    );
  let last = "no answer";
  try {
    await until(
      `a 200 from ${url}`,
      async () => (last = await answer(url)) === "200",
    );
    server.readyMs = performance.now() - launched;
    const isolates = launch.isolates ?? 0;
    await until(
      `${isolates} isolates were ready`,
      async () =>
        (await Deno.readTextFile(`${folder}/ready`).catch(() => ""))
          .split("\n").filter(Boolean).length >= isolates,
    );
    if (isolates) await checkSpread(url, 20);
  } catch (error) {
    const log = await Deno.readTextFile(`${folder}/error.log`).catch(() => "");
    await server.stop();
    throw new Error(
      `${name} did not start on port ${port}: ${
        (error as Error).message
      } (last answer: ${last})\n${output().slice(-16_000)}${log}`,
    );
  }
  return server;
}

/** A GET's status as text, or why there was none. */
async function answer(url: string, client?: Deno.HttpClient): Promise<string> {
  try {
    const response = await fetch(url, {
      client,
      signal: AbortSignal.timeout(30_000),
    });
    await response.body?.cancel();
    return String(response.status);
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Throws unless `times` GETs of `url`, each on a new connection, all answer
 * 200: with SO_REUSEPORT the kernel picks an isolate per connection.
 */
async function checkSpread(url: string, times: number): Promise<void> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    for (let i = 0; i < times; i++) {
      const status = await answer(url, client);
      if (status !== "200") throw new Error(`request ${i + 2}: ${status}`);
    }
  } finally {
    client.close();
  }
}

/** Versions for the report; unknown ones are "?". */
export async function versions(): Promise<Record<string, string>> {
  const run = async (command: string, ...args: string[]) => {
    try {
      const { stdout, stderr } = await new Deno.Command(command, { args })
        .output();
      const decoder = new TextDecoder();
      return decoder.decode(stdout) + decoder.decode(stderr);
    } catch {
      return "";
    }
  };
  const dpkg = async (name: string) =>
    (await run("dpkg-query", "-W", "-f=${Version}", name)).trim() || "?";
  const imports = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`))
    .imports;
  return {
    apache: (await run(APACHE, "-v")).match(/Apache\/(\S+)/)?.[1] ?? "?",
    modWsgi: await dpkg("libapache2-mod-wsgi-py3"),
    python: (await run(PYTHON, "--version")).match(/Python (\S+)/)?.[1] ?? "?",
    gunicorn: await dpkg("gunicorn"),
    wrk: (await run("wrk", "-v")).match(/wrk (?:debian\/)?([\d.]+)/)?.[1] ??
      "?",
    deno: Deno.version.deno,
    pyodide: imports.pyodide?.split("@").pop() ?? "?",
  };
}
