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

import { loadAverage, type LoadResult, runWrk } from "./measure.ts";
import { parseOptions } from "./options.ts";
import { benchApp, prepareSite } from "./scenarios.ts";
import { startServer } from "./servers.ts";

const SITE = await prepareSite(benchApp("loop", "loop"));
const TIMEOUT = 3;

/** The servers compared, by the name in --servers: a label, the gateway's group. */
const VARIANTS: Record<string, [string, Record<string, unknown>?]> = {
  mod_wsgi: ["Apache + mod_wsgi (2 processes x 15 threads, request-timeout=3)"],
  "gateway-no-snapshot": ["gateway, no snapshot, no spare", {
    snapshot: false,
  }],
  "gateway-no-snapshot-spare": ["gateway, no snapshot, spareWorkers 1", {
    snapshot: false,
    spareWorkers: 1,
  }],
  gateway: ["gateway, snapshot, no spare", {}],
  "gateway-spare": ["gateway, snapshot, spareWorkers 1", { spareWorkers: 1 }],
};

/** Starts the gateway (mod_wsgi without `group`) for the loop app. */
async function start(processes: number, group?: Record<string, unknown>) {
  const server = await startServer(group ? "gateway" : "mod_wsgi", SITE, {
    processes,
    modWsgiThreads: 15,
    group: group ?? {},
    modWsgiDaemonOptions: [`request-timeout=${TIMEOUT}`],
  });
  if ("skipped" in server) throw new Error(server.skipped);
  return server;
}

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
const load = loadAverage;

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
  const [label, group] = VARIANTS[name];
  const server = await start(2, group && { requestTimeout: TIMEOUT, ...group });
  const wrk = (durationSeconds: number) =>
    runWrk(`${server.baseUrl}/`, {
      connections: options.connections,
      threads: 2,
      durationSeconds,
    });
  try {
    await wrk(3); // warm-up
    const base = await wrk(options.seconds);
    const client = loopClient(server.baseUrl);
    const loaded = await wrk(options.seconds);
    const loop = await client.stop();
    return { variant: name, label, base, loaded, loop, load: load() };
  } finally {
    await server.stop();
  }
}

interface Replacement {
  variant: string;
  event: string;
  /** Milliseconds until the hello request sent after the event answered. */
  times: number[];
  statuses: number[];
}

/**
 * On a 1-worker gateway with `group`, `count` times: `before` (if any),
 * then a hello request, timed to its answer; the statuses of both.
 */
async function timeHello(
  group: Record<string, unknown>,
  count: number,
  before?: string,
): Promise<Pick<Replacement, "times" | "statuses">> {
  const server = await start(1, group);
  const result = { times: [] as number[], statuses: [] as number[] };
  const get = async (path: string) => {
    const response = await fetch(server.baseUrl + path);
    await response.body?.cancel();
    result.statuses.push(response.status);
  };
  try {
    for (let i = 0; i < count; i++) {
      if (before) {
        // The spare (or the worker) must be up again before the next event.
        await new Promise((resolve) => setTimeout(resolve, 3000));
        await get(before);
      }
      const began = performance.now();
      await get("/");
      result.times.push(performance.now() - began);
    }
  } finally {
    await server.stop();
  }
  return result;
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
  const spareWorkers = spare ? 1 : 0;
  const { times, statuses } = await timeHello(
    { requestTimeout: TIMEOUT, spareWorkers },
    repeat,
    `/${event}`,
  );
  return {
    variant: spare ? "spareWorkers 1" : "no spare",
    event: event === "loop" ? "timeout" : "crash",
    times: times.map((ms) => round(ms, 1)),
    statuses,
  };
}

/** The slowest of `count` sequential hello requests across recycles. */
async function recycles(
  count: number,
  maximumRequests: number,
  spare: boolean,
): Promise<Replacement> {
  const spareWorkers = spare ? 1 : 0;
  const { times, statuses } = await timeHello(
    { maximumRequests, spareWorkers },
    count,
  );
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
  const options = parseOptions(
    "Usage: npx -y deno@2.9.6 task bench:loop -- [options]",
    {
      seconds: ["20", "seconds of wrk's load, alone and with the loop client"],
      connections: ["32", "wrk's connections"],
      servers: [Object.keys(VARIANTS).join(","), "the servers compared"],
      "no-replacement": [false, "leave out the gateway's replacement times"],
      json: [undefined, "a file for every figure as JSON"],
    },
  );
  const seconds = options.whole("seconds");
  const connections = options.whole("connections");
  const names = options.list("servers", Object.keys(VARIANTS));
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
  if (!options.flag("no-replacement")) {
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
  if (options.text("json")) {
    const date = new Date().toISOString();
    const json = JSON.stringify({ date, rows, replacements }, null, 2);
    await Deno.writeTextFile(options.text("json")!, json);
  }
}
