/**
 * The gateway's own cost per request (`deno task bench:overhead`): the CPU
 * time the server's process tree spends per request under wrk's load, minus
 * what the application itself takes for the same route in the same
 * interpreter, called in a loop without any server (bench/apps/app_time.py,
 * mounted beside it). What is left is HTTP, routing, the environ, the
 * bridge on both sides, the response: the target is at most 40 µs.
 *
 * CPU time, unlike req/s, does not depend much on what the machine's other
 * users do, as long as the server is not starved; the load average is
 * printed beside every figure all the same.
 *
 * Run: npx -y deno@2.9.6 task bench:overhead -- --servers gateway-parallel \
 *   --scenarios hello,flask-json --rounds 3 [--profile]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { processTree, runWrk } from "./measure.ts";
import { type Scenario, SCENARIOS } from "./scenarios.ts";
import { ROOT, startServer } from "./servers.ts";

const OPTIONS = {
  servers: { type: "string", default: "gateway-parallel,gateway" },
  scenarios: { type: "string", default: "hello,flask-json" },
  duration: { type: "string", default: "5" },
  connections: { type: "string", default: "64" },
  threads: { type: "string", default: "2" },
  processes: { type: "string", default: "2" },
  rounds: { type: "string", default: "3" },
  "probe-seconds": { type: "string", default: "1" },
  group: { type: "string", default: "{}" },
  profile: { type: "boolean", default: false },
  out: { type: "string" },
} as const;

const PROBE = `${ROOT}bench/apps/app_time.py`;
const log = (message: string) => console.error(`[overhead] ${message}`);

function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(
    " ",
  );
}

/**
 * CPU seconds of a process tree: the sum over its threads of the time on
 * a CPU from /proc/PID/task/TID/schedstat (nanoseconds, where stat's
 * utime and stime count 10 ms ticks).
 */
function treeCpuSeconds(root: number): number {
  let nanoseconds = 0;
  for (const pid of processTree(root)) {
    try {
      for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
        const text = Deno.readTextFileSync(
          `/proc/${pid}/task/${task.name}/schedstat`,
        );
        nanoseconds += Number(text.split(" ")[0]);
      }
    } catch {
      // exited meanwhile
    }
  }
  return nanoseconds / 1e9;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

/** One server and scenario: every round's figures. */
interface Row {
  server: string;
  scenario: string;
  rounds: {
    requests: number;
    requestsPerSecond: number;
    cpuUsPerRequest: number;
    loadAverage: string;
  }[];
  appUs: number[];
  bridgeUs: number[];
  cpuUsPerRequest?: number;
  appUsMedian?: number;
  bridgeUsMedian?: number;
  overheadUs?: number;
}

function whole(value: string, name: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new RangeError(`--${name} must be a whole number >= ${min}`);
  }
  return n;
}

/**
 * Asks the probe to call the app (or the bridge) in a loop for `seconds`;
 * the server's CPU time over the loop, divided by the calls made, is the
 * cost of one call. With `profile`, returns cProfile's report instead.
 */
async function probe(
  server: { baseUrl: string; pid: number },
  scenario: Scenario,
  what: string,
  seconds: number,
): Promise<{ us: number; text: string }> {
  const query = new URLSearchParams({
    script: scenario.app.script,
    prefix: scenario.app.prefix,
    path: scenario.path.slice(
      scenario.app.prefix === "/" ? 0 : scenario.app.prefix.length,
    ),
    seconds: String(seconds),
    what,
  });
  const before = treeCpuSeconds(server.pid);
  const response = await fetch(`${server.baseUrl}/__app_time?${query}`);
  const text = await response.text();
  const cpu = treeCpuSeconds(server.pid) - before;
  if (response.status !== 200) {
    throw new Error(`the probe answered ${response.status}: ${text}`);
  }
  if (what.startsWith("profile")) return { us: NaN, text };
  return { us: cpu / JSON.parse(text).n * 1e6, text };
}

async function measure(
  name: string,
  scenarios: Scenario[],
  config: ReturnType<typeof settings>,
): Promise<Row[]> {
  const app = scenarios[0].app;
  const needs = await app.prepare?.() ?? {};
  const site = {
    app,
    cpythonPath: needs.cpythonPath ?? [],
    pyodidePath: needs.pyodidePath ?? [],
    env: needs.env ?? {},
    aliases: needs.aliases ?? [],
  };
  // Read by bench/gateway_server.ts (inherited by the server's process).
  Deno.env.set("BENCH_GATEWAY_PROBE", PROBE);
  log(`starting ${name} for ${app.id}`);
  const server = await startServer(name, site, {
    processes: config.processes,
    modWsgiThreads: 15,
    group: config.group,
  });
  if ("skipped" in server) throw new Error(`${name}: ${server.skipped}`);
  const rows: Row[] = [];
  try {
    for (const scenario of scenarios) {
      const url = server.baseUrl + scenario.path;
      const answer = await fetch(url);
      const problem = scenario.check(
        answer.status,
        new Uint8Array(await answer.arrayBuffer()),
      );
      if (problem) throw new Error(`${name} ${scenario.id}: ${problem}`);
      const row: Row = {
        server: name,
        scenario: scenario.id,
        rounds: [],
        appUs: [],
        bridgeUs: [],
      };
      const load = {
        connections: config.connections,
        threads: config.threads,
      };
      await runWrk(url, { ...load, durationSeconds: 2 }); // warm-up
      for (let round = 0; round < config.rounds; round++) {
        const before = treeCpuSeconds(server.pid);
        const result = await runWrk(url, {
          ...load,
          durationSeconds: config.duration,
        });
        const cpu = treeCpuSeconds(server.pid) - before;
        if (result.non2xx) {
          throw new Error(`${name} ${scenario.id}: ${result.non2xx} non-2xx`);
        }
        row.rounds.push({
          requests: result.requests,
          requestsPerSecond: result.requestsPerSecond,
          cpuUsPerRequest: cpu / result.requests * 1e6,
          loadAverage: loadAverage(),
        });
        for (const what of ["app", "bridge"] as const) {
          const timed = await probe(
            server,
            scenario,
            what,
            config.probeSeconds,
          );
          (what === "app" ? row.appUs : row.bridgeUs).push(timed.us);
        }
        const last = row.rounds.at(-1)!;
        log(
          `${scenario.id} on ${name}, round ${round + 1}: ${
            last.cpuUsPerRequest.toFixed(1)
          } µs CPU/request, ${Math.round(last.requestsPerSecond)} req/s; ` +
            `app ${row.appUs.at(-1)!.toFixed(1)} µs, bridge (Python) ${
              row.bridgeUs.at(-1)!.toFixed(1)
            } µs; load ${last.loadAverage}`,
        );
      }
      row.cpuUsPerRequest = median(row.rounds.map((r) => r.cpuUsPerRequest));
      row.appUsMedian = median(row.appUs);
      row.bridgeUsMedian = median(row.bridgeUs);
      row.overheadUs = row.cpuUsPerRequest - row.appUsMedian;
      rows.push(row);
      if (config.profile) {
        for (const what of ["profile-app", "profile-bridge"]) {
          console.log(`\n## cProfile, ${what}, ${scenario.id} on ${name}\n`);
          console.log((await probe(server, scenario, what, 2)).text);
        }
      }
    }
  } finally {
    await server.stop();
    await needs.stop?.();
  }
  return rows;
}

function settings(args: string[]) {
  if (args[0] === "--") args = args.slice(1);
  const { values } = parseArgs({ args, options: OPTIONS });
  const ids = values.scenarios.split(",").filter(Boolean);
  const unknown = ids.filter((id) => !SCENARIOS.some((s) => s.id === id));
  if (unknown.length) {
    throw new RangeError(`--scenarios: unknown ${unknown}`);
  }
  const group = JSON.parse(values.group);
  if (typeof group !== "object" || group === null || Array.isArray(group)) {
    throw new TypeError(`--group must be a JSON object, not ${values.group}`);
  }
  return {
    servers: values.servers.split(",").filter(Boolean),
    scenarios: SCENARIOS.filter((s) => ids.includes(s.id)),
    duration: whole(values.duration, "duration", 1),
    connections: whole(values.connections, "connections", 1),
    threads: whole(values.threads, "threads", 1),
    processes: whole(values.processes, "processes", 1),
    rounds: whole(values.rounds, "rounds", 1),
    probeSeconds: whole(values["probe-seconds"], "probe-seconds", 1),
    group,
    profile: values.profile,
    out: values.out,
  };
}

async function main(): Promise<void> {
  const config = settings(Deno.args);
  const rows: Row[] = [];
  for (const name of config.servers) {
    // Scenarios that share an app share its server.
    const byApp = Map.groupBy(config.scenarios, (s) => s.app);
    for (const scenarios of byApp.values()) {
      rows.push(...await measure(name, scenarios, config));
    }
  }
  console.log(
    `\n${
      new Date().toISOString().slice(0, 16)
    } UTC, wrk -t${config.threads} -c${config.connections} -d${config.duration}s, ${config.processes} processes, median of ${config.rounds} rounds, load average now ${loadAverage()}\n`,
  );
  console.log(
    "| scenario | server | req/s | CPU µs/request | app µs | bridge µs (Python) | gateway's own µs |",
  );
  console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
  for (const row of rows) {
    const rps = median(row.rounds.map((r) => r.requestsPerSecond));
    console.log(
      `| ${row.scenario} | ${row.server} | ${Math.round(rps)} | ${
        row.cpuUsPerRequest!.toFixed(1)
      } | ${row.appUsMedian!.toFixed(1)} | ${
        row.bridgeUsMedian!.toFixed(1)
      } | ${row.overheadUs!.toFixed(1)} |`,
    );
  }
  if (config.out) {
    await Deno.writeTextFile(config.out, JSON.stringify(rows, null, 2));
  }
}

if (import.meta.main) await main();
