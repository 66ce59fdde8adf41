/**
 * The loop-client test (issues 13 and 14): wrk loads hello world while
 * another client requests a route that never returns, one request at a
 * time, a second after each answer; requestTimeout 3 s, 2 workers. Run for
 * Apache + mod_wsgi (daemon mode, request-timeout=3) and the gateway with
 * and without snapshots and spare workers, in one sitting: throughput and
 * p99 without the loop client, then with it.
 *
 * Then, on the gateway alone (1 worker, snapshots on), how long a worker
 * takes to be replaced and serving: a hello request sent the moment a
 * timeout's 504, or a crash's 502, arrives, and the slowest of 200
 * sequential requests across recycles at maximumRequests 25; each without
 * and with a spare worker. `--servers ""` runs only this part.
 *
 * Run: npx -y deno@2.9.6 task bench:loop [--seconds 20] [--connections 32]
 *   [--servers mod_wsgi,gateway,...] [--no-replacement] [--json FILE]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadavg } from "node:os";
import { type LoadResult, runWrk } from "./measure.ts";
import {
  ROOT,
  type ServerSettings,
  type Site,
  startServer,
} from "./servers.ts";

const APP = {
  id: "loop",
  directory: `${ROOT}bench/apps`,
  script: `${ROOT}bench/apps/loop.py`,
  gunicornApp: "loop:application",
  prefix: "/",
  readyPath: "/",
};
const SITE: Site = {
  app: APP,
  cpythonPath: [],
  pyodidePath: [],
  env: {},
  aliases: [],
};
const TIMEOUT = 3;

/** The servers compared, by the name in --servers. */
const VARIANTS: Record<
  string,
  { server: string; label: string; group?: Record<string, unknown> }
> = {
  mod_wsgi: {
    server: "mod_wsgi",
    label: "Apache + mod_wsgi (2 processes x 15 threads, request-timeout=3)",
  },
  "gateway-no-snapshot": {
    server: "gateway",
    label: "gateway, no snapshot, no spare",
    group: { snapshot: false },
  },
  "gateway-no-snapshot-spare": {
    server: "gateway",
    label: "gateway, no snapshot, spareWorkers 1",
    group: { snapshot: false, spareWorkers: 1 },
  },
  gateway: {
    server: "gateway",
    label: "gateway, snapshot, no spare",
    group: {},
  },
  "gateway-spare": {
    server: "gateway",
    label: "gateway, snapshot, spareWorkers 1",
    group: { spareWorkers: 1 },
  },
};

interface LoopStats {
  sent: number;
  statuses: Record<string, number>;
}

/** One request to /loop at a time, a second after each answer, until stopped. */
function loopClient(base: string): { stop(): Promise<LoopStats> } {
  const stats: LoopStats = { sent: 0, statuses: {} };
  let running = true;
  const controller = new AbortController();
  const done = (async () => {
    while (running) {
      stats.sent++;
      let status: string;
      try {
        const response = await fetch(`${base}/loop`, {
          signal: controller.signal,
        });
        await response.body?.cancel();
        status = String(response.status);
      } catch {
        status = running ? "error" : "unanswered at the end";
      }
      stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
      if (running) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    async stop() {
      running = false;
      controller.abort();
      await done;
      return stats;
    },
  };
}

const round = (n: number, digits = 0) => Number(n.toFixed(digits));
const load = () => loadavg().map((n) => n.toFixed(1)).join(" ");

interface Row {
  variant: string;
  label: string;
  base: LoadResult;
  loaded: LoadResult;
  loop: LoopStats;
  load: string;
}

async function compare(
  name: string,
  options: { seconds: number; connections: number },
): Promise<Row> {
  const variant = VARIANTS[name];
  const settings: ServerSettings = {
    processes: 2,
    modWsgiThreads: 15,
    group: { requestTimeout: TIMEOUT, ...variant.group },
    modWsgiDaemonOptions: [`request-timeout=${TIMEOUT}`],
  };
  const server = await startServer(variant.server, SITE, settings);
  if ("skipped" in server) throw new Error(server.skipped);
  const url = `${server.baseUrl}/`;
  const wrk = { connections: options.connections, threads: 2 };
  try {
    await runWrk(url, { ...wrk, durationSeconds: 3 }); // warm-up
    const base = await runWrk(url, {
      ...wrk,
      durationSeconds: options.seconds,
    });
    const client = loopClient(server.baseUrl);
    const loaded = await runWrk(url, {
      ...wrk,
      durationSeconds: options.seconds,
    });
    const loop = await client.stop();
    return {
      variant: name,
      label: variant.label,
      base,
      loaded,
      loop,
      load: load(),
    };
  } finally {
    await server.stop();
  }
}

async function timed(url: string): Promise<[number, number]> {
  const began = performance.now();
  const response = await fetch(url);
  await response.body?.cancel();
  return [response.status, performance.now() - began];
}

interface Replacement {
  variant: string;
  event: string;
  /** Milliseconds until the hello request sent after the event answered. */
  times: number[];
  statuses: number[];
}

/**
 * Times `repeat` replacements after `event` (a timeout or a crash) on a
 * 1-worker gateway: a hello request is sent the moment the failing
 * request's answer arrives, and timed to its answer.
 */
async function replacement(
  spare: boolean,
  event: "loop" | "crash",
  repeat: number,
): Promise<Replacement> {
  const settings: ServerSettings = {
    processes: 1,
    modWsgiThreads: 15,
    group: { requestTimeout: TIMEOUT, spareWorkers: spare ? 1 : 0 },
  };
  const server = await startServer("gateway", SITE, settings);
  if ("skipped" in server) throw new Error(server.skipped);
  const result: Replacement = {
    variant: spare ? "spareWorkers 1" : "no spare",
    event: event === "loop" ? "timeout" : "crash",
    times: [],
    statuses: [],
  };
  try {
    for (let i = 0; i < repeat; i++) {
      // The spare (or the worker) must be up again before the next event.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const [failed] = await timed(`${server.baseUrl}/${event}`);
      const [status, ms] = await timed(`${server.baseUrl}/`);
      result.statuses.push(failed, status);
      result.times.push(round(ms, 1));
    }
  } finally {
    await server.stop();
  }
  return result;
}

/** The slowest of `count` sequential hello requests across recycles. */
async function recycles(
  count: number,
  maximumRequests: number,
  spare: boolean,
): Promise<Replacement> {
  const settings: ServerSettings = {
    processes: 1,
    modWsgiThreads: 15,
    group: { maximumRequests, spareWorkers: spare ? 1 : 0 },
  };
  const server = await startServer("gateway", SITE, settings);
  if ("skipped" in server) throw new Error(server.skipped);
  const times: number[] = [];
  const statuses: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const [status, ms] = await timed(`${server.baseUrl}/`);
      statuses.push(status);
      times.push(ms);
    }
  } finally {
    await server.stop();
  }
  times.sort((a, b) => b - a);
  return {
    variant: `maximumRequests ${maximumRequests}, ${
      spare ? "spareWorkers 1" : "no spare"
    }`,
    event: `recycle (slowest 5 of ${count})`,
    times: times.slice(0, 5).map((ms) => round(ms, 1)),
    statuses: [...new Set(statuses)],
  };
}

function table(rows: Row[]): string {
  const lines = [
    "| server | req/s alone | req/s with the loop client | drop | p99 alone | p99 with | /loop answers | load average |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  for (const { label, base, loaded, loop, load } of rows) {
    const drop = 1 - loaded.requestsPerSecond / base.requestsPerSecond;
    lines.push(
      `| ${label} | ${round(base.requestsPerSecond).toLocaleString("en")} | ${
        round(loaded.requestsPerSecond).toLocaleString("en")
      } | ${round(drop * 100)}% | ${round(base.latencyMs.p99)} ms | ${
        round(loaded.latencyMs.p99)
      } ms | ${
        Object.entries(loop.statuses).map(([s, n]) => `${n} x ${s}`).join(", ")
      }${loaded.non2xx ? `; wrk non-2xx: ${loaded.non2xx}` : ""} | ${load} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "20" },
      connections: { type: "string", default: "32" },
      servers: { type: "string", default: Object.keys(VARIANTS).join(",") },
      "no-replacement": { type: "boolean", default: false },
      json: { type: "string" },
    },
  });
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const names = values.servers.split(",").filter(Boolean);
  for (const name of names) {
    if (!VARIANTS[name]) {
      console.error(
        `--servers: unknown ${JSON.stringify(name)}; known: ${
          Object.keys(VARIANTS).join(", ")
        }`,
      );
      Deno.exit(2);
    }
  }
  console.log(
    `${
      new Date().toISOString()
    }; load average ${load()}; wrk -t2 -c${connections} -d${seconds}s on /`,
  );
  const rows: Row[] = [];
  for (const name of names) {
    const row = await compare(name, { seconds, connections });
    rows.push(row);
    console.log(table([row]).split("\n").at(-1));
  }
  console.log(`\n${table(rows)}\n`);
  const replacements: Replacement[] = [];
  if (!values["no-replacement"]) {
    for (const spare of [false, true]) {
      for (const event of ["loop", "crash"] as const) {
        const result = await replacement(spare, event, 5);
        replacements.push(result);
        console.log(
          `replaced and serving after a ${result.event}, ${result.variant}: ${
            result.times.join(", ")
          } ms (statuses ${
            [...new Set(result.statuses)].join(", ")
          }); load ${load()}`,
        );
      }
    }
    for (const spare of [false, true]) {
      const recycled = await recycles(200, 25, spare);
      replacements.push(recycled);
      console.log(
        `${recycled.event}, ${recycled.variant}: ${
          recycled.times.join(", ")
        } ms (statuses ${recycled.statuses.join(", ")}); load ${load()}`,
      );
    }
  }
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify(
        { date: new Date().toISOString(), rows, replacements },
        null,
        2,
      ),
    );
  }
}
