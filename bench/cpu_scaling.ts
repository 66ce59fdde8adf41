/**
 * Benchmark (not a test): how a group's throughput scales with its workers
 * on a CPU-bound endpoint, and what each extra worker costs in memory.
 *
 * Serves the same CPU-bound WSGI endpoint from a group with one worker and
 * from a group with two, drives each with wrk (few connections: the work is
 * in Python), and reports req/s, the ratio, and the RSS per extra worker.
 *
 * Run: npx -y deno@2.9.6 run -A bench/cpu_scaling.ts [--duration 8] [--loops 300000]
 * Needs wrk (apt-get install -y wrk).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runWrk } from "./wrk.ts";
import { createRouter, defineGroup, mountWsgi, shutdown } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "8" },
    loops: { type: "string", default: "300000" },
    connections: { type: "string", default: "4" },
  },
});

function rssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1]) / 1024;
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000));
}

async function wrk(
  url: string,
): Promise<{ rps: number; p50: string; p99: string }> {
  const result = await runWrk(url, {
    threads: 1,
    connections: Number(values.connections),
    durationSeconds: Number(values.duration),
  });
  return {
    rps: result.requestsPerSecond,
    p50: `${result.latencyMs.p50.toFixed(2)}ms`,
    p99: `${result.latencyMs.p99.toFixed(2)}ms`,
  };
}

const script = new URL("../tests/apps/groups_app.wsgi", import.meta.url)
  .pathname;
const pythonPath = [new URL("../tests/apps/", import.meta.url).pathname];
const router = createRouter();
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  router.fetch,
);
const base = `http://127.0.0.1:${server.addr.port}`;

await settle();
const before = rssMiB();
const one = defineGroup("scaling-1", { processes: 1, pythonPath });
mountWsgi(router, "/one", script, { group: one });
await one.ready();
await settle();
const withOne = rssMiB();
const two = defineGroup("scaling-2", { processes: 2, pythonPath });
mountWsgi(router, "/two", script, { group: two });
await two.ready();
await settle();
const withThree = rssMiB();

const path = `/cpu?n=${values.loops}`;
await wrk(`${base}/one${path}`); // warm-up
const single = await wrk(`${base}/one${path}`);
await wrk(`${base}/two${path}`);
const double = await wrk(`${base}/two${path}`);

console.log(
  `CPU-bound endpoint (${values.loops} Python loop iterations), wrk -t1 -c${values.connections} -d${values.duration}s, ${
    new Date().toISOString().slice(0, 10)
  }, ${navigator.hardwareConcurrency} cores\n`,
);
console.log("| group | req/s | p50 | p99 |\n| --- | ---: | ---: | ---: |");
console.log(
  `| processes: 1 | ${single.rps.toFixed(1)} | ${single.p50} | ${single.p99} |`,
);
console.log(
  `| processes: 2 | ${double.rps.toFixed(1)} | ${double.p50} | ${double.p99} |`,
);
console.log(
  `\nprocesses 2 / processes 1: ${(double.rps / single.rps).toFixed(2)}x`,
);
console.log(
  `RSS: ${before.toFixed(0)} MiB before Python, ${
    withOne.toFixed(0)
  } MiB with the first worker, ${
    ((withThree - withOne) / 2).toFixed(1)
  } MiB per extra worker`,
);
await server.shutdown();
await shutdown();
