/**
 * Benchmark (not a test): hello-world throughput of the demo server, driven
 * by wrk on loopback, in each way the gateway can run Python:
 *
 * - one and two Web Workers (`defineGroup({ processes })`, the default way),
 * - embedded in the serving isolate (`processes: 0`),
 * - `deno serve --parallel` with an embedded interpreter per core.
 *
 * Run: npx -y deno@2.9.6 run -A bench/hello_bench.ts [--duration 5] [--connections 64]
 * Needs wrk (apt-get install -y wrk).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { waitUntilAnswering } from "./reference.ts";
import { runWrk } from "./wrk.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "64" },
    port: { type: "string", default: "8391" },
  },
});

const root = new URL("../", import.meta.url).pathname;
const deno = Deno.execPath();
const port = Number(values.port);

interface Result {
  setup: string;
  requestsPerSecond: number;
  p50: string;
  p99: string;
}

async function wrk(url: string): Promise<Omit<Result, "setup">> {
  const { requestsPerSecond, latencyMs } = await runWrk(url, {
    threads: 2,
    connections: Number(values.connections),
    durationSeconds: Number(values.duration),
  });
  return {
    requestsPerSecond,
    p50: `${latencyMs.p50.toFixed(2)}ms`,
    p99: `${latencyMs.p99.toFixed(2)}ms`,
  };
}

async function measure(
  setup: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Result> {
  const child = new Deno.Command(deno, {
    args,
    cwd: root,
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const url = `http://127.0.0.1:${port}/myapp/`;
    await waitUntilAnswering(url, { accept: (status) => status === 200 });
    await wrk(url); // warm-up
    return { setup, ...(await wrk(url)) };
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

const serverArgs = (processes: number) => [
  "run",
  "-A",
  "examples/server.ts",
  "--port",
  String(port),
  "--processes",
  String(processes),
];

const results: Result[] = [];
results.push(await measure("1 Web Worker", serverArgs(1)));
results.push(await measure("2 Web Workers", serverArgs(2)));
results.push(await measure("embedded (processes: 0)", serverArgs(0)));
results.push(
  await measure("deno serve --parallel, 2 embedded isolates", [
    "serve",
    "--parallel",
    "-A",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "examples/parallel.ts",
  ], { DENO_JOBS: "2" }),
);

const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(
  /model name\s*:\s*(.*)/,
)?.[1] ?? "unknown CPU";
console.log(
  `Hello world, wrk -t2 -c${values.connections} -d${values.duration}s, ${
    new Date().toISOString().slice(0, 10)
  }, ${navigator.hardwareConcurrency} cores (${cpu})\n`,
);
console.log("| setup | req/s | p50 | p99 |\n| --- | ---: | ---: | ---: |");
for (const result of results) {
  console.log(
    `| ${result.setup} | ${
      Math.round(result.requestsPerSecond).toLocaleString("en")
    } | ${result.p50} | ${result.p99} |`,
  );
}
