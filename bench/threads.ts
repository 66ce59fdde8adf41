/**
 * Benchmark (not a test): what a group's `threads` buys for requests that
 * wait on the database, and what it costs in memory against more workers.
 *
 * One private PostgreSQL (tests/servers.ts) and bench/apps/flask_db.py
 * (Flask, SQLAlchemy, pg8000) in groups of child-process workers
 * (`isolation: "process"`, so that each worker's memory is its own
 * process's), one group at a time:
 *
 * - `1 worker x 1 thread`, `1 worker x 10 threads`, `2 workers x 1 thread`;
 * - wall time: 10 concurrent requests (new connections, all sent at once),
 *   each running `SELECT pg_sleep(0.3)` through SQLAlchemy, until the last
 *   answer; the median of `--rounds` rounds, after a warm-up round;
 * - memory after that load: the group's `metrics().rss` (VmRSS of its
 *   worker processes, summed) and their PSS from /proc/PID/smaps_rollup.
 *
 * `threads` is the group option of mod_wsgi's `threads=`; a library
 * without it yet answers "unknown option" for the 10-thread group, which
 * is then reported as not run.
 *
 * Run: npx -y deno@2.9.6 run -A bench/threads.ts [--rounds 5] [--requests 10]
 *      [--sleep 0.3] [--threads 10] [--json FILE]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import {
  configureLogging,
  createRouter,
  defineGroup,
  type GroupOptions,
  mountWsgi,
  type ProcessGroup,
} from "../mod.ts";
import { ensurePythonPackages } from "../tests/python_packages.ts";
import { startPostgres } from "../tests/servers.ts";
import { processTree, treeMemory } from "./reference.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const APP = `${ROOT}bench/apps/flask_db.py`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    requests: { type: "string", default: "10" },
    sleep: { type: "string", default: "0.3" },
    threads: { type: "string", default: "10" },
    json: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(
    "Usage: deno run -A bench/threads.ts [--rounds 5] [--requests 10] [--sleep 0.3] [--threads 10] [--json FILE]",
  );
  Deno.exit(0);
}
const rounds = Number(values.rounds);
const requests = Number(values.requests);
const sleepSeconds = Number(values.sleep);
const threads = Number(values.threads);

/** A group's shape. */
interface Shape {
  processes: number;
  threads: number;
}

/** What one shape measured. */
interface Measured extends Shape {
  label: string;
  /** Why it was not run, if so. */
  skipped?: string;
  /** Wall time of each measured round, ms. */
  wallMs?: number[];
  medianWallMs?: number;
  /** metrics().rss after the load: VmRSS of the worker processes, summed. */
  rssBytes?: number;
  /** PSS of the worker processes, summed. */
  pssBytes?: number;
  workerPids?: number[];
}

const SHAPES: Shape[] = [
  { processes: 1, threads: 1 },
  { processes: 1, threads },
  { processes: 2, threads: 1 },
];

const log = (message: string) => console.error(`[threads] ${message}`);
const mib = (bytes?: number) =>
  bytes === undefined ? "-" : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** One round: `requests` GETs at once, each on its own connection. */
async function burst(url: string): Promise<number> {
  const clients = Array.from(
    { length: requests },
    () => Deno.createHttpClient({ poolMaxIdlePerHost: 0 }),
  );
  try {
    const started = performance.now();
    await Promise.all(clients.map(async (client) => {
      const response = await fetch(url, {
        client,
        signal: AbortSignal.timeout(120_000),
      });
      const body = await response.text();
      if (response.status !== 200) {
        throw new Error(`${url}: ${response.status} ${body.slice(0, 200)}`);
      }
    }));
    return performance.now() - started;
  } finally {
    for (const client of clients) client.close();
  }
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** This process's child processes now, but not those in `except`'s trees. */
function children(except: number[]): Set<number> {
  const skip = new Set(except.flatMap((pid) => processTree(pid)));
  return new Set(
    processTree(Deno.pid).filter((pid) => pid !== Deno.pid && !skip.has(pid)),
  );
}

async function measure(
  shape: Shape,
  env: Record<string, string>,
  sitePackages: string,
  postgresPid: number,
): Promise<Measured> {
  const label = `${shape.processes} worker${
    shape.processes === 1 ? "" : "s"
  } x ${shape.threads} thread${shape.threads === 1 ? "" : "s"}`;
  const before = children([postgresPid]);
  // Passed as a variable: a library without the option yet still compiles.
  const options: GroupOptions & { threads?: number } = {
    processes: shape.processes,
    isolation: "process",
    pythonPath: [sitePackages],
    env,
    ...(shape.threads === 1 ? {} : { threads: shape.threads }),
  };
  let group: ProcessGroup;
  try {
    group = defineGroup(
      `threads-${shape.processes}x${shape.threads}`,
      options,
    );
  } catch (error) {
    const message = (error as Error).message;
    if (/unknown option "threads"/.test(message)) {
      return { ...shape, label, skipped: "this library has no threads yet" };
    }
    throw error;
  }
  const router = createRouter();
  mountWsgi(router, "/", APP, { group, reload: false });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    router.fetch,
  );
  try {
    await group.ready();
    const url =
      `http://127.0.0.1:${server.addr.port}/sleep?seconds=${sleepSeconds}`;
    log(`${label}: warm-up`);
    await burst(url);
    const wallMs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      wallMs.push(await burst(url));
      log(`${label}: round ${round + 1}: ${wallMs.at(-1)!.toFixed(0)} ms`);
    }
    const metrics = group.metrics() as { rss?: number };
    const workers = [...children([postgresPid])].filter((pid) =>
      !before.has(pid)
    );
    // Only the roots of the new trees: a worker process and its children.
    const roots = workers.filter((pid) =>
      !workers.some((other) =>
        other !== pid && processTree(other).includes(pid)
      )
    );
    let pss: number | undefined = 0;
    for (const pid of roots) {
      const memory = treeMemory(pid);
      pss = memory.pssBytes === undefined || pss === undefined
        ? undefined
        : pss + memory.pssBytes;
    }
    return {
      ...shape,
      label,
      wallMs,
      medianWallMs: median(wallMs),
      rssBytes: metrics.rss,
      pssBytes: pss,
      workerPids: roots,
    };
  } finally {
    await server.shutdown();
    await group.shutdown();
  }
}

async function main(): Promise<void> {
  configureLogging({ level: "warn" });
  const sitePackages = await ensurePythonPackages();
  log("starting PostgreSQL");
  const postgres = await startPostgres();
  const results: Measured[] = [];
  try {
    const env = { DATABASE_URL: postgres.url, BENCH_DB_POOL: String(threads) };
    for (const shape of SHAPES) {
      results.push(await measure(shape, env, sitePackages, postgres.pid));
    }
  } finally {
    await postgres.stop();
  }
  const ideal = (shape: Shape) =>
    Math.ceil(requests / (shape.processes * shape.threads)) * sleepSeconds *
    1000;
  const lines = [
    `${
      new Date().toISOString()
    }, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}; ${requests} concurrent requests, each SELECT pg_sleep(${sleepSeconds}) through SQLAlchemy + pg8000; median of ${rounds} rounds after a warm-up; isolation: "process"`,
    "",
    "| group | wall time, all requests | rounds (ms) | if only the waits counted | worker RSS (metrics().rss) | worker PSS |",
    "| --- | ---: | --- | ---: | ---: | ---: |",
    ...results.map((r) =>
      r.skipped
        ? `| ${r.label} | not run: ${r.skipped} | | | | |`
        : `| ${r.label} | ${r.medianWallMs!.toFixed(0)} ms | ${
          r.wallMs!.map((ms) => ms.toFixed(0)).join(", ")
        } | ${ideal(r).toFixed(0)} ms | ${mib(r.rssBytes)} | ${
          mib(r.pssBytes)
        } |`
    ),
  ];
  console.log(lines.join("\n"));
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ date: new Date().toISOString(), results }, null, 2) +
        "\n",
    );
  }
}

if (import.meta.main) await main();
