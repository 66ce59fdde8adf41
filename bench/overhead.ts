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

import { loadAverage, median, runWrk, treeCpuSeconds } from "./measure.ts";
import { parseOptions } from "./options.ts";
import {
  checkOnce,
  prepareSite,
  type Scenario,
  SCENARIOS,
} from "./scenarios.ts";
import { ROOT, type RunningServer, SERVERS, startServer } from "./servers.ts";

const options = parseOptions(
  "Usage: npx -y deno@2.9.6 task bench:overhead -- [options]",
  {
    servers: ["gateway-parallel,gateway", `among ${Object.keys(SERVERS)}`],
    scenarios: ["hello,flask-json", `among ${SCENARIOS.map((s) => s.id)}`],
    duration: ["5", "seconds of load per round"],
    connections: ["64", "wrk's connections"],
    threads: ["2", "wrk's threads"],
    processes: ["2", "workers (isolates) of the gateway"],
    rounds: ["3", "rounds; the median is shown"],
    "probe-seconds": ["1", "seconds of each probe's loop"],
    group: ["{}", "the gateway's defineGroup() options"],
    profile: [false, "print cProfile's top entries of the app and bridge"],
    out: [undefined, "a JSON file for every round's figures"],
  },
);
const ids = options.list("scenarios", SCENARIOS.map((s) => s.id));
const config = {
  servers: options.list("servers", Object.keys(SERVERS)),
  scenarios: SCENARIOS.filter((s) => ids.includes(s.id)),
  duration: options.whole("duration"),
  connections: options.whole("connections"),
  threads: options.whole("threads"),
  processes: options.whole("processes"),
  rounds: options.whole("rounds"),
  probeSeconds: options.whole("probe-seconds"),
  group: options.object("group"),
  profile: options.flag("profile"),
  out: options.text("out"),
};

const PROBE = `${ROOT}bench/apps/app_time.py`;
const log = (message: string) => console.error(`[overhead] ${message}`);

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

/**
 * Asks the probe to call the app (or the bridge) in a loop for `seconds`;
 * the server's CPU time over the loop, divided by the calls made, is the
 * cost of one call. With `profile`, returns cProfile's report instead.
 */
async function probe(
  server: RunningServer,
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

async function measure(name: string, scenarios: Scenario[]): Promise<Row[]> {
  const app = scenarios[0].app;
  const site = await prepareSite(app);
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
      const problem = await checkOnce(server.baseUrl, scenario);
      if (problem) throw new Error(`${name} ${scenario.id}: ${problem}`);
      const row: Row = {
        server: name,
        scenario: scenario.id,
        rounds: [],
        appUs: [],
        bridgeUs: [],
      };
      const wrk = (durationSeconds: number) =>
        runWrk(server.baseUrl + scenario.path, { ...config, durationSeconds });
      await wrk(2); // warm-up
      for (let round = 0; round < config.rounds; round++) {
        const before = treeCpuSeconds(server.pid);
        const result = await wrk(config.duration);
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
          const { us } = await probe(
            server,
            scenario,
            what,
            config.probeSeconds,
          );
          (what === "app" ? row.appUs : row.bridgeUs).push(us);
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
    await site.stop?.();
  }
  return rows;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const name of config.servers) {
    // Scenarios that share an app share its server.
    const byApp = Map.groupBy(config.scenarios, (s) => s.app);
    for (const scenarios of byApp.values()) {
      rows.push(...await measure(name, scenarios));
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
