/**
 * Benchmark (not a test): the Flask example's JSON endpoint
 * (/app/api/items) and template endpoint (/app/hello/<name>), served
 *
 * - by the gateway: examples/flask-beside-hono/server.ts, Flask on Pyodide
 *   in N Web Workers, and
 * - by Apache with Debian's mod_wsgi in daemon mode: the same app.wsgi on
 *   Debian's CPython (/usr/bin/python3), N daemon processes with threads=1
 *   (one request at a time each, like a worker), and with mod_wsgi's
 *   default threads=15,
 *
 * with the same pinned packages (tests/requirements.txt) on both sides, in
 * the same run. For each N the servers run side by side and are measured
 * in turn, round after round, so that a busy neighbour on the machine hits
 * them alike; the table shows each one's median round. wrk runs on
 * loopback.
 *
 * Run: npx -y deno@2.9.6 run -A bench/flask_bench.ts [--seconds 5] [--rounds 3] [--connections 16] [--processes 1,2]
 * Needs: apt-get install -y wrk apache2 libapache2-mod-wsgi-py3
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { ensurePythonPackages } from "../tests/python_packages.ts";
import {
  referenceVersions,
  startApacheWsgi,
  waitUntilAnswering,
} from "./reference.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "16" },
    processes: { type: "string", default: "1,2" },
    port: { type: "string", default: "8451" },
  },
});

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const EXAMPLE = `${ROOT}examples/flask-beside-hono`;
const ENDPOINTS = [
  { name: "JSON", path: "/app/api/items" },
  { name: "template", path: "/app/hello/world" },
];
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
let nextPort = Number(values.port);

interface Server {
  name: string;
  base: string;
  stop(): Promise<void>;
}

interface Row {
  server: string;
  processes: number;
  endpoint: string;
  runs: WrkResult[];
}

async function bodies(base: string): Promise<string[]> {
  return await Promise.all(
    ENDPOINTS.map(async ({ path }) => await (await fetch(base + path)).text()),
  );
}

async function startGateway(processes: number): Promise<Server> {
  const port = nextPort++;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${EXAMPLE}/server.ts`,
      "--port",
      String(port),
      "--processes",
      String(processes),
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
  };
  try {
    await waitUntilAnswering(base + ENDPOINTS[0].path, {
      timeoutSeconds: 120,
      accept: (status) => status === 200,
      exited: child.status,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    name: `gateway, ${processes} Web Worker${processes > 1 ? "s" : ""}`,
    base,
    stop,
  };
}

async function startApache(
  processes: number,
  threads: number,
  sitePackages: string,
): Promise<Server> {
  const port = nextPort++;
  const apache = await startApacheWsgi(port, {
    prefix: "/app",
    script: `${EXAMPLE}/app.wsgi`,
    processes,
    threads,
    pythonPath: [sitePackages],
    readyPath: ENDPOINTS[0].path,
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    name: `Apache + mod_wsgi daemon, threads=${threads}`,
    base,
    stop: () => apache.stop(),
  };
}

function median(runs: WrkResult[]): WrkResult {
  const sorted = [...runs].sort((a, b) =>
    a.requestsPerSecond - b.requestsPerSecond
  );
  return sorted[Math.floor(sorted.length / 2)];
}

const pyodideSitePackages = await ensurePythonPackages();
const cpythonSitePackages = await ensurePythonPackages({
  forHost: true,
  python: "/usr/bin/python3",
});
const cpython = new TextDecoder().decode(
  (await new Deno.Command("/usr/bin/python3", { args: ["--version"] }).output())
    .stdout,
).trim();
console.error(`Pyodide packages: ${pyodideSitePackages}`);
console.error(`CPython packages: ${cpythonSitePackages} (${cpython})`);

const rows: Row[] = [];
let same = true;
const loads: number[] = [];
for (const processes of values.processes.split(",").map(Number)) {
  const servers: Server[] = [];
  try {
    servers.push(await startGateway(processes));
    servers.push(await startApache(processes, 1, cpythonSitePackages));
    servers.push(await startApache(processes, 15, cpythonSitePackages));
    // Every worker and daemon process answers before measuring.
    const seen: string[] = [];
    for (const server of servers) {
      for (let i = 0; i < 4 * processes; i++) await bodies(server.base);
      seen.push(JSON.stringify(await bodies(server.base)));
    }
    same &&= seen.every((text) => text === seen[0]);
    const byKey = new Map<string, Row>();
    for (let round = 0; round < rounds; round++) {
      for (const { name, path } of ENDPOINTS) {
        for (const server of servers) {
          if (round === 0) {
            await runWrk(server.base + path, {
              durationSeconds: Number(values.warmup),
              connections,
            });
          }
          const result = await runWrk(server.base + path, {
            durationSeconds: seconds,
            connections,
          });
          const key = `${server.name}|${name}`;
          let row = byKey.get(key);
          if (!row) {
            row = { server: server.name, processes, endpoint: name, runs: [] };
            byKey.set(key, row);
          }
          row.runs.push(result);
          loads.push(
            Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]),
          );
          console.error(
            `round ${
              round + 1
            }: ${server.name}, ${processes} process(es), ${name}: ${
              Math.round(result.requestsPerSecond)
            } req/s`,
          );
        }
      }
    }
    rows.push(...byKey.values());
  } finally {
    for (const server of servers) await server.stop();
  }
}

const versions = await referenceVersions();
const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(
  /model name\s*:\s*(.*)/,
)?.[1] ?? "unknown CPU";
console.log(
  `Flask example, wrk -t1 -c${connections} -d${seconds}s, median of ${rounds} interleaved rounds, ${
    new Date().toISOString().slice(0, 10)
  }, ${navigator.hardwareConcurrency} cores (${cpu}), 1-minute load average ${
    Math.min(...loads)
  }–${
    Math.max(...loads)
  } during the run; gateway: Deno ${Deno.version.deno}, Pyodide 314.0.7 (Python 3.14); ` +
    `Apache ${versions.apache} (event MPM), mod_wsgi ${versions.modWsgi}, ${cpython}. ` +
    `Same response bodies from every server: ${same ? "yes" : "NO"}.\n`,
);
console.log(
  "| server | processes | endpoint | req/s (median) | all rounds | p50 | p99 | non-2xx | socket errors |\n" +
    "| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |",
);
for (const { server, processes, endpoint, runs } of rows) {
  const result = median(runs);
  console.log(
    `| ${server} | ${processes} | ${endpoint} | ${
      Math.round(result.requestsPerSecond).toLocaleString("en")
    } | ${runs.map((r) => Math.round(r.requestsPerSecond)).join(", ")} | ${
      result.latencyMs.p50.toFixed(2)
    }ms | ${result.latencyMs.p99.toFixed(2)}ms | ${
      runs.reduce((n, r) => n + r.non2xx, 0)
    } | ${
      runs.reduce(
        (n, r) =>
          n + r.socketErrors.connect + r.socketErrors.read +
          r.socketErrors.write + r.socketErrors.timeout,
        0,
      )
    } |`,
  );
}
