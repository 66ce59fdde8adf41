/**
 * The apps and the scenarios of the benchmark. The apps are plain Python
 * files, the same for CPython (mod_wsgi, gunicorn) and Pyodide (the
 * gateway); scenarios that share an app share its servers.
 *
 * @module
 */

import { ensurePythonPackages } from "../tests/python_packages.ts";
import { type App, type Needs, PYTHON, ROOT, type Site } from "./servers.ts";

/** An app and how to get what it needs, started once before its servers. */
export interface AppSpec extends App {
  prepare?: () => Promise<Partial<Needs>>;
}

/** One measured request against every server. */
export interface Scenario {
  /** For --scenarios. */
  id: string;
  /** For the table. */
  title: string;
  app: AppSpec;
  /** The URL path with the query. */
  path: string;
  /** A POST body of this many bytes. */
  bodyBytes?: number;
  /** One request, its body streamed, instead of wrk's load. */
  once?: boolean;
  /** wrk's connections, whatever --connections says. */
  connections?: number;
  /** Run only when named in --scenarios. */
  extra?: boolean;
  /** What is wrong with an answer, if anything. */
  check(status: number, body: Uint8Array): string | undefined;
  /** Servers that cannot run it, and why. */
  skip?: Record<string, string>;
}

const MIB = 1024 * 1024;
const APPS = `${ROOT}bench/apps`;
const HELLO_MEDIA = `${ROOT}examples/hello/static/media`;
const text = (body: Uint8Array) => new TextDecoder().decode(body);

/** bench/apps/`module`.py at "/". */
export function benchApp(
  id: string,
  module: string,
  prepare?: AppSpec["prepare"],
): AppSpec {
  return {
    id,
    directory: APPS,
    script: `${APPS}/${module}.py`,
    gunicornApp: `${module}:application`,
    prefix: "/",
    readyPath: "/",
    prepare,
  };
}

/** `app` with what its `prepare` started for this run; `stop` ends that. */
export async function prepareSite(app: AppSpec): Promise<Site> {
  const needs = await app.prepare?.();
  return {
    cpythonPath: [],
    pyodidePath: [],
    env: {},
    aliases: [],
    ...needs,
    app,
  };
}

/** Fetches a scenario's request once; what is wrong with the answer, if anything. */
export async function checkOnce(baseUrl: string, scenario: Scenario) {
  // A streamed upload is checked as it is measured.
  if (scenario.once) return undefined;
  try {
    const response = await fetch(baseUrl + scenario.path, {
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

/**
 * The pinned packages of tests/requirements.txt, installed by pip from
 * PyPI once: for Debian's python3 (what mod_wsgi and gunicorn run) into
 * .cache/site-packages-cpython, for Pyodide into .cache/site-packages.
 */
async function packages(): Promise<Partial<Needs>> {
  return {
    cpythonPath: [
      await ensurePythonPackages({ forHost: true, python: PYTHON }),
    ],
    pyodidePath: [await ensurePythonPackages()],
  };
}

const HELLO = benchApp("hello", "hello", () =>
  Promise.resolve({
    aliases: [{ urlPath: "/media/", directory: `${HELLO_MEDIA}/` }],
  }));

/** A 1 KiB and a 1 MiB file in a temporary folder at /media/. */
const STATIC = benchApp("static", "hello", async () => {
  const folder = await Deno.makeTempDir({ prefix: "bench-static-" });
  for (const size of [1024, MIB]) {
    const bytes = new Uint8Array(size);
    crypto.getRandomValues(bytes.subarray(0, 65536));
    await Deno.writeFile(`${folder}/${size}.bin`, bytes, { mode: 0o644 });
  }
  // Apache's children run as www-data when the benchmark runs as root.
  await Deno.chmod(folder, 0o755);
  return {
    aliases: [{ urlPath: "/media/", directory: `${folder}/` }],
    stop: () => Deno.remove(folder, { recursive: true }),
  };
});

/** The Flask example, mounted at /app. */
const FLASK: AppSpec = {
  id: "flask",
  directory: `${ROOT}examples/flask-beside-hono`,
  script: `${ROOT}examples/flask-beside-hono/app.wsgi`,
  gunicornApp: "flask_example:create_app()",
  prefix: "/app",
  readyPath: "/app/api/items",
  prepare: packages,
};

/**
 * bench/apps/flask_db.py: Flask, SQLAlchemy Core and pg8000 on one private
 * PostgreSQL (tests/servers.ts) for all the servers of the run. Each
 * process may hold 10 connections: that PostgreSQL allows 40, and every
 * server's pools are open at once.
 */
const FLASK_DB = benchApp("flask-db", "flask_db", async () => {
  const { startPostgres } = await import("../tests/servers.ts");
  const postgres = await startPostgres();
  return {
    ...await packages(),
    env: { DATABASE_URL: postgres.url, BENCH_DB_POOL: "10" },
    stop: () => postgres.stop(),
  };
});

const UPLOAD = benchApp("upload", "upload");

const ok = (status: number) =>
  status === 200 ? undefined : `status ${status}, wanted 200`;
const same = (wanted: string) => (status: number, body: Uint8Array) =>
  ok(status) ??
    (text(body) === wanted ? undefined : `body "${text(body).slice(0, 80)}"`);
const length = (wanted: number) => (status: number, body: Uint8Array) =>
  ok(status) ??
    (body.length === wanted
      ? undefined
      : `${body.length} bytes, not ${wanted}`);
const json =
  (test: (json: Record<string, unknown>) => boolean) =>
  (status: number, body: Uint8Array) => {
    try {
      return ok(status) ??
        (test(JSON.parse(text(body)))
          ? undefined
          : `unexpected JSON ${text(body).slice(0, 120)}`);
    } catch {
      return `not JSON: ${text(body).slice(0, 80)}`;
    }
  };
const NO_STATIC = { gunicorn: "gunicorn serves no static files" };

/** Every scenario, in the order of the table. */
export const SCENARIOS: Scenario[] = [
  {
    id: "hello",
    title: "hello world",
    app: HELLO,
    path: "/",
    check: same("Hello World!"),
  },
  {
    // The example has no text route: its smallest one, a 2-key JSON.
    id: "flask-plain",
    title: "Flask plain (/api/whoami)",
    app: FLASK,
    path: "/app/api/whoami",
    check: json((json) => json.visits === 0 && json.user === null),
  },
  {
    id: "flask-json",
    title: "Flask JSON (/api/items)",
    app: FLASK,
    path: "/app/api/items",
    check: json((json) => json.count === 4 && json.link === "/app/api/items"),
  },
  {
    id: "flask-template",
    title: "Flask template (/hello/world)",
    app: FLASK,
    path: "/app/hello/world",
    check: (status, body) =>
      ok(status) ??
        (/Hello, world!/.test(text(body)) && /Teapot/.test(text(body))
          ? undefined
          : `body "${text(body).slice(0, 80)}"`),
  },
  {
    id: "1MiB-response",
    title: "1 MiB response",
    app: benchApp("big-response", "big_response"),
    path: "/",
    check: length(MIB),
  },
  {
    id: "1MiB-upload",
    title: "1 MiB upload",
    app: UPLOAD,
    path: "/",
    bodyBytes: MIB,
    check: same(String(MIB)),
  },
  {
    id: "static-alias",
    title: "static file (36 B) through an alias",
    app: HELLO,
    path: "/media/site.css",
    check: same(Deno.readTextFileSync(`${HELLO_MEDIA}/site.css`)),
    skip: NO_STATIC,
  },
  {
    id: "flask-db",
    title: "Flask + PostgreSQL, 1 row by key (SQLAlchemy Core, pg8000)",
    app: FLASK_DB,
    path: "/row/42",
    check: json((json) =>
      json.id === 42 && json.name === "item 42" && json.price === 52.5 &&
      json.note === "row 42 of 1000, caf\u00e9 \u2713"
    ),
  },
  ...[1024, MIB].map((size) => ({
    id: `static-${size === MIB ? "1MiB" : "1KiB"}`,
    title: `static file (${size === MIB ? "1 MiB" : "1 KiB"}) through an alias`,
    app: STATIC,
    path: `/media/${size}.bin`,
    connections: 32,
    extra: true,
    check: length(size),
    skip: NO_STATIC,
  })),
  {
    // Python-bound: how throughput scales with --processes.
    id: "cpu",
    title: "CPU-bound Python (300,000 loop iterations)",
    app: benchApp("cpu", "cpu"),
    path: "/?n=300000",
    connections: 4,
    extra: true,
    check: same(String(sum(300_000))),
  },
  {
    // What a group's `threads` buys for requests that wait on the database.
    id: "flask-db-sleep",
    title: "Flask + PostgreSQL, SELECT pg_sleep(0.3), 10 connections",
    app: FLASK_DB,
    path: "/sleep?seconds=0.3",
    connections: 10,
    extra: true,
    check: json((json) => json.slept === 0.3),
  },
  {
    // An upload streams: peak RSS grows far less than the body.
    id: "512MiB-upload",
    title: "512 MiB upload, one request",
    app: UPLOAD,
    path: "/",
    bodyBytes: 512 * MIB,
    once: true,
    extra: true,
    check: same(String(512 * MIB)),
  },
];

/** What bench/apps/cpu.py answers for `n`: the sum of i * i below n. */
function sum(n: number): bigint {
  const big = BigInt(n);
  return (big - 1n) * big * (2n * big - 1n) / 6n;
}
