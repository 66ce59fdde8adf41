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

import { parseArgs } from "node:util";
import { ensurePythonPackages } from "../tests/python_packages.ts";
import { freePort } from "../tests/servers.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "3000" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "8" },
  },
});
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const ROOT = new URL("../", import.meta.url).pathname;

const MODES: Record<string, Record<string, unknown>> = {
  "process, sandboxed (default)": {},
  "thread, sandboxed": { isolation: "thread" },
  "thread, server's permissions (before)": {
    isolation: "thread",
    permissions: "inherit",
  },
};

const sitePackages = await ensurePythonPackages();
const APPS = {
  hello: { app: `${ROOT}bench/apps/hello.py`, prefix: "/", path: "/" },
  "flask json": {
    app: `${ROOT}examples/flask-beside-hono/app.wsgi`,
    prefix: "/app",
    path: "/app/api/items",
    pythonPath: [sitePackages],
  },
};

function ticks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU milliseconds of a process and all its descendants. */
function treeCpuMs(root: number): number {
  const parents = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      parents.set(
        Number(entry.name),
        Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]),
      );
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const walk = (pid: number) => {
    try {
      total += ticks(pid) * 10;
    } catch {
      return;
    }
    for (const [child, parent] of parents) if (parent === pid) walk(child);
  };
  walk(root);
  return total;
}

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
  spec: (typeof APPS)[keyof typeof APPS],
): Promise<{ cpuUs: number; rps: number }> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-worker-options",
      `${ROOT}bench/gateway_server.ts`,
    ],
    env: {
      BENCH_GATEWAY: JSON.stringify({
        app: spec.app,
        prefix: spec.prefix,
        pythonPath: "pythonPath" in spec ? spec.pythonPath : [],
        port,
        group: { ...mode, snapshot: false },
      }),
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}${spec.path}`;
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        const response = await fetch(url);
        await response.arrayBuffer();
        if (response.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${url} never answered`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await load(url, Math.min(500, REQUESTS)); // warm-up
    const before = treeCpuMs(child.pid);
    const ms = await load(url, REQUESTS);
    const used = treeCpuMs(child.pid) - before;
    return { cpuUs: (used * 1000) / REQUESTS, rps: REQUESTS / (ms / 1000) };
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

const results = new Map<string, { cpuUs: number[]; rps: number[] }>();
for (let round = 1; round <= ROUNDS; round++) {
  for (const [appName, spec] of Object.entries(APPS)) {
    for (const [modeName, mode] of Object.entries(MODES)) {
      const { cpuUs, rps } = await measure(mode, spec);
      const key = `${appName} | ${modeName}`;
      const row = results.get(key) ?? { cpuUs: [], rps: [] };
      row.cpuUs.push(cpuUs);
      row.rps.push(rps);
      results.set(key, row);
      console.log(
        `round ${round}: ${key}: ${cpuUs.toFixed(0)} µs CPU/request, ${
          rps.toFixed(0)
        } req/s (load average ${
          Deno.loadavg().map((n) => n.toFixed(2)).join(" ")
        })`,
      );
    }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
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
