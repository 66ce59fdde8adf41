/**
 * What a worker's isolation costs per request: the server's CPU time (its
 * whole process tree, from /proc) per request and the requests per
 * second, for hello world and a Flask JSON route, with the workers as
 * sandboxed child processes (the default), sandboxed Web Workers, and
 * unsandboxed Web Workers (the default before the sandbox). The modes take
 * turns, round after round, so that a change in the machine's load hits
 * them alike; the load average is printed beside each figure.
 *
 * Run: npx -y deno@2.9.6 run -A bench/isolation_cost.ts [--requests 3000]
 *   [--rounds 3] [--concurrency 8]
 *
 * @module
 */

import { loadAverage, median, treeCpuSeconds } from "./measure.ts";
import { parseOptions } from "./options.ts";
import { prepareSite, SCENARIOS } from "./scenarios.ts";
import { type RunningServer, startServer } from "./servers.ts";

const options = parseOptions(
  "Usage: npx -y deno@2.9.6 run -A bench/isolation_cost.ts [options]",
  {
    requests: ["3000", "requests per measurement"],
    rounds: ["3", "rounds; the median is shown"],
    concurrency: ["8", "requests at a time"],
  },
);
const REQUESTS = options.whole("requests");
const ROUNDS = options.whole("rounds");
const CONCURRENCY = options.whole("concurrency");

const MODES: Record<string, Record<string, unknown>> = {
  "process, sandboxed (default)": {},
  "thread, sandboxed": { isolation: "thread" },
  "thread, server's permissions (before)": {
    isolation: "thread",
    permissions: "inherit",
  },
};

const APPS = { hello: "hello", "flask json": "flask-json" };

/** Milliseconds to answer `count` GETs of `url`, CONCURRENCY at a time. */
async function load(url: string, count: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < count) {
        const response = await fetch(url);
        await response.arrayBuffer();
        if (response.status !== 200) {
          throw new Error(`${url}: ${response.status}`);
        }
      }
    }),
  );
  return performance.now() - started;
}

async function measure(
  mode: Record<string, unknown>,
  scenario: string,
): Promise<{ cpuUs: number; rps: number }> {
  const { app, path } = SCENARIOS.find((s) => s.id === scenario)!;
  const site = await prepareSite(app);
  let server: RunningServer | { skipped: string } | undefined;
  try {
    server = await startServer("gateway", site, {
      processes: 1, // the default of defineGroup()
      modWsgiThreads: 15,
      group: { ...mode, snapshot: false },
    });
    if ("skipped" in server) throw new Error(server.skipped);
    const url = server.baseUrl + path;
    await load(url, Math.min(500, REQUESTS)); // warm-up
    const before = treeCpuSeconds(server.pid);
    const ms = await load(url, REQUESTS);
    const used = treeCpuSeconds(server.pid) - before;
    return { cpuUs: (used * 1e6) / REQUESTS, rps: REQUESTS / (ms / 1000) };
  } finally {
    if (server && "stop" in server) await server.stop();
    await site.stop?.();
  }
}

const results = new Map<string, { cpuUs: number[]; rps: number[] }>();
for (let round = 1; round <= ROUNDS; round++) {
  for (const [appName, scenario] of Object.entries(APPS)) {
    for (const [modeName, mode] of Object.entries(MODES)) {
      const { cpuUs, rps } = await measure(mode, scenario);
      const key = `${appName} | ${modeName}`;
      const row = results.get(key) ?? { cpuUs: [], rps: [] };
      row.cpuUs.push(cpuUs);
      row.rps.push(rps);
      results.set(key, row);
      console.log(
        `round ${round}: ${key}: ${cpuUs.toFixed(0)} µs CPU/request, ${
          rps.toFixed(0)
        } req/s (load average ${loadAverage()})`,
      );
    }
  }
}

console.log(
  `\n${
    new Date().toISOString()
  }, ${REQUESTS} requests x ${ROUNDS} rounds, ${CONCURRENCY} at a time; medians`,
);
console.log("| app | workers | server CPU per request | req/s |");
console.log("| --- | --- | ---: | ---: |");
for (const [key, row] of results) {
  const [app, mode] = key.split(" | ");
  console.log(
    `| ${app} | ${mode} | ${median(row.cpuUs).toFixed(0)} µs | ${
      median(row.rps).toFixed(0)
    } |`,
  );
}
