/**
 * The benchmark command, `npx -y deno@2.9.6 task bench`: scenarios
 * (bench/scenarios.ts) against servers (bench/servers.ts), on loopback, in
 * one run, with the same load, connections and duration; Apache +
 * mod_wsgi is the reference every ratio is taken against. Writes
 * results.json and results.md to `--out`. `--help` lists the options.
 *
 * @module
 */

import { coldStart } from "./cold_start.ts";
import {
  cpuTicks,
  type LoadResult,
  max,
  median,
  MemoryWatch,
  otherCpuPercent,
  runWrk,
  streamUpload,
} from "./measure.ts";
import { type Option, parseOptions } from "./options.ts";
import {
  checkOnce,
  prepareSite,
  type Scenario,
  SCENARIOS,
} from "./scenarios.ts";
import {
  missingPackages,
  ROOT,
  type RunningServer,
  SERVERS,
  type ServerSettings,
  startServer,
  versions,
} from "./servers.ts";

const DEFAULT_SERVERS = [
  "mod_wsgi",
  "gunicorn",
  "gateway",
  "gateway-deno-serve",
  "gateway-parallel",
];
const EXTRAS = SCENARIOS.filter((s) => s.extra).map((s) => s.id);

const OPTIONS: Record<string, Option> = {
  duration: ["5", "seconds of load per run"],
  warmup: ["2", "seconds of load before a server's first round (0: none)"],
  connections: ["64", "wrk's connections (some scenarios set their own)"],
  threads: ["2", "wrk's threads"],
  processes: ["2", "processes of every server (workers, isolates)"],
  rounds: ["1", "servers take turns N times; the median round is kept"],
  scenarios: ["", `among ${SCENARIOS.map((s) => s.id)}`],
  servers: [DEFAULT_SERVERS.join(","), `among ${Object.keys(SERVERS)}`],
  group: ["{}", `the gateway's defineGroup() options, as '{"threads":10}'`],
  "mod-wsgi-threads": ["15", "mod_wsgi's threads="],
  out: [`${ROOT}bench/results`, "where results.json and results.md go"],
  cold: [
    false,
    "instead: cold start of the examples, without and with a snapshot",
  ],
};

/** One row of the table: a scenario on a server. */
export interface ResultRow {
  scenario: string;
  title: string;
  server: string;
  status: "ok" | "skipped" | "failed";
  reason?: string;
  /** The median round's figures (by req/s). */
  requestsPerSecond?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Peaks of the sums over the server's process tree. */
  peakRssBytes?: number;
  peakPssBytes?: number;
  processes?: number;
  /** Over all rounds. */
  non2xx?: number;
  socketErrors?: number;
  /** The most CPU (% of the machine) others used during a measured run. */
  otherCpuPercent?: number;
  ratioVsModWsgi?: number;
  rounds?: LoadResult[];
}

/** A server or an app's database, stopped on Ctrl-C too. */
type Stoppable = { stop(): Promise<void> };

const log = (message: string) => console.error(`[bench] ${message}`);
const MIB = 1024 * 1024;
const mib = (bytes?: number) =>
  bytes === undefined ? "–" : `${(bytes / MIB).toFixed(1)} MiB`;
const ms = (value?: number) =>
  value === undefined || Number.isNaN(value)
    ? "–"
    : value >= 100
    ? `${Math.round(value)} ms`
    : `${value.toFixed(2)} ms`;

/** The options, checked; throws with a message that names the bad one. */
function settings(args: string[]) {
  const options = parseOptions(
    "Usage: npx -y deno@2.9.6 task bench -- [options]",
    OPTIONS,
    { args, footer: `Scenarios run by default: all but ${EXTRAS.join(", ")}.` },
  );
  const ids = options.list("scenarios", SCENARIOS.map((s) => s.id));
  return {
    cold: options.flag("cold"),
    out: options.text("out")!.replace(/\/$/, ""),
    // The load's settings, in results.json's order.
    connections: options.whole("connections"),
    threads: options.whole("threads"),
    durationSeconds: options.whole("duration"),
    warmupSeconds: options.whole("warmup", 0),
    rounds: options.whole("rounds"),
    scenarios: SCENARIOS.filter((s) =>
      ids.length ? ids.includes(s.id) : !s.extra
    ),
    servers: options.list("servers", Object.keys(SERVERS)),
    server: {
      processes: options.whole("processes"),
      modWsgiThreads: options.whole("mod-wsgi-threads"),
      group: options.object("group"),
    } satisfies ServerSettings,
  };
}

type Settings = ReturnType<typeof settings>;

/** Starts, checks and loads every server for the scenarios of one app. */
async function measureApp(
  scenarios: Scenario[],
  { config, row, running }: {
    config: Settings;
    row: (scenario: Scenario, server: string) => ResultRow;
    running: Set<Stoppable>;
  },
): Promise<void> {
  const fail = (
    scenarios: Scenario[],
    servers: string[],
    status: "skipped" | "failed",
    reason: string,
  ) => {
    for (const scenario of scenarios) {
      for (const server of servers) {
        Object.assign(row(scenario, server), { status, reason });
        log(`${scenario.id} on ${server}: ${status}: ${reason.split("\n")[0]}`);
      }
    }
  };
  const app = scenarios[0].app;
  const site = await prepareSite(app).catch((error) => {
    const reason = `could not prepare the ${app.id} app: ${error.message}`;
    fail(scenarios, config.servers, "failed", reason);
  });
  if (!site) return;
  if (site.stop) running.add(site as Stoppable);
  const started: { name: string; server: RunningServer; watch: MemoryWatch }[] =
    [];
  try {
    for (const name of config.servers) {
      const wanted = scenarios.filter((s) => {
        if (s.skip?.[name]) fail([s], [name], "skipped", s.skip[name]);
        return !s.skip?.[name];
      });
      if (wanted.length === 0) continue;
      log(`starting ${name} for ${app.id}`);
      const server = await startServer(name, site, config.server).catch((
        error,
      ) => ({ failed: String(error) }));
      if (!("pid" in server)) {
        if ("skipped" in server) {
          fail(wanted, [name], "skipped", server.skipped);
        } else fail(wanted, [name], "failed", server.failed);
        continue;
      }
      running.add(server);
      started.push({ name, server, watch: new MemoryWatch(server.pid) });
      // Every process answers once before the load; each answer is checked.
      for (const s of wanted) {
        for (let i = 0; i < 2 * config.server.processes; i++) {
          await checkOnce(server.baseUrl, s);
        }
        const problem = await checkOnce(server.baseUrl, s);
        if (problem) fail([s], [name], "failed", `wrong response: ${problem}`);
      }
    }
    for (let round = 0; round < config.rounds; round++) {
      for (const scenario of scenarios) {
        for (const { name, server, watch } of started) {
          const target = row(scenario, name);
          if (target.status !== "ok") continue;
          const url = server.baseUrl + scenario.path;
          const load = (durationSeconds: number) =>
            scenario.once
              ? streamUpload(url, scenario.bodyBytes!, scenario.check)
              : runWrk(url, {
                connections: scenario.connections ?? config.connections,
                threads: config.threads,
                durationSeconds,
                bodyBytes: scenario.bodyBytes,
              });
          try {
            watch.reset();
            if (round === 0 && config.warmupSeconds > 0 && !scenario.once) {
              await load(config.warmupSeconds);
            }
            const before = cpuTicks();
            const result = await load(config.durationSeconds);
            const others = otherCpuPercent(before, cpuTicks());
            const memory = watch.peak();
            target.rounds = [...target.rounds ?? [], result];
            target.otherCpuPercent = max(target.otherCpuPercent, others);
            target.peakRssBytes = max(target.peakRssBytes, memory.rssBytes);
            target.peakPssBytes = max(target.peakPssBytes, memory.pssBytes);
            target.processes = max(target.processes, memory.processes);
            log(
              `round ${round + 1}/${config.rounds} ${scenario.id} on ${name}: ${
                Math.round(result.requestsPerSecond)
              } req/s, p99 ${ms(result.latencyMs.p99)}, peak RSS ${
                mib(memory.rssBytes)
              }, other processes ${others.toFixed(1)}% CPU`,
            );
          } catch (error) {
            fail([scenario], [name], "failed", (error as Error).message);
          }
        }
      }
    }
  } finally {
    for (const { name, server, watch } of started) {
      watch.stop();
      log(`stopping ${name} for ${app.id}`);
      await server.stop().catch((error) => log(`stopping ${name}: ${error}`));
      running.delete(server);
    }
    await site.stop?.().catch((error) => log(`stopping ${app.id}: ${error}`));
    running.delete(site as Stoppable);
  }
}

/** Medians by req/s, totals of errors, ratios to mod_wsgi. */
function summarize(rows: ResultRow[]): void {
  for (const target of rows) {
    if (target.status !== "ok") continue;
    if (!target.rounds?.length) {
      Object.assign(target, { status: "failed", reason: "no measurement" });
      continue;
    }
    const rps = target.rounds.map((r) => r.requestsPerSecond);
    const mid = target.rounds[rps.indexOf(median(rps))];
    target.requestsPerSecond = mid.requestsPerSecond;
    target.p50Ms = mid.latencyMs.p50;
    target.p99Ms = mid.latencyMs.p99;
    target.non2xx = target.rounds.reduce((n, r) => n + r.non2xx, 0);
    target.socketErrors = target.rounds.reduce(
      (n, r) => n + Object.values(r.socketErrors).reduce((a, b) => a + b, 0),
      0,
    );
  }
  for (const target of rows) {
    const reference = rows.find((r) =>
      r.scenario === target.scenario && r.server === "mod_wsgi"
    );
    if (target.requestsPerSecond && reference?.requestsPerSecond) {
      target.ratioVsModWsgi = target.requestsPerSecond /
        reference.requestsPerSecond;
    }
  }
}

async function machine() {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  return {
    nproc: navigator.hardwareConcurrency,
    cpu: cpuinfo.match(/model name\s*:\s*(.*)/)?.[1]?.trim() ?? "unknown CPU",
    kernel: `${Deno.build.os} ${Deno.osRelease()}`,
    memoryBytes: Number(meminfo.match(/MemTotal:\s+(\d+) kB/)?.[1] ?? 0) * 1024,
  };
}

type Results = {
  date: string;
  machine: Awaited<ReturnType<typeof machine>>;
  settings: Record<string, unknown>;
  versions: Record<string, string>;
  servers: Record<string, string>;
  rows: ResultRow[];
};

/** The Markdown report: settings, servers and one table row per result. */
function renderMarkdown(results: Results): string {
  const { settings: s, machine: m, versions: v } = results;
  const others = Math.max(
    0,
    ...results.rows.map((r) => r.otherCpuPercent ?? 0),
  );
  const lines = [
    "# Benchmark: the gateway against Apache + mod_wsgi and gunicorn",
    "",
    `${
      results.date.slice(0, 16).replace("T", " ")
    } UTC, ${m.nproc} cores (${m.cpu}), ${
      (m.memoryBytes / 1024 ** 3).toFixed(1)
    } GiB RAM, ${m.kernel}.`,
    `Load: wrk ${v.wrk} -t${s.threads} -c${s.connections} -d${s.durationSeconds}s --latency on 127.0.0.1, after a ${s.warmupSeconds} s warm-up; ${s.rounds} round(s) (median by req/s). Every server has ${s.processes} processes. CPU used by processes other than the benchmark's during the measured runs: at most ${
      others.toFixed(1)
    }% of the machine.`,
    "",
    ...Object.entries(results.servers).map(([name, text]) =>
      `- **${name}**: ${text}`
    ),
    "",
    "| scenario | server | req/s | p50 | p99 | peak RSS | peak PSS | ratio vs mod_wsgi | errors |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const row of results.rows) {
    const errors = (row.non2xx ?? 0) + (row.socketErrors ?? 0);
    const cells = row.status !== "ok"
      ? [
        `${row.status}: ${
          (row.reason ?? "").split("\n")[0].replace(/\|/g, "\\|").slice(0, 160)
        }`,
        ...Array(6).fill(""),
      ]
      : [
        // A single timed upload does well under one request per second.
        (row.requestsPerSecond ?? 0).toLocaleString("en", {
          maximumFractionDigits: (row.requestsPerSecond ?? 0) < 10 ? 2 : 0,
        }),
        ms(row.p50Ms),
        ms(row.p99Ms),
        mib(row.peakRssBytes),
        mib(row.peakPssBytes),
        row.ratioVsModWsgi === undefined
          ? "–"
          : `${row.ratioVsModWsgi.toFixed(2)}x`,
        errors === 0
          ? "0"
          : `${row.non2xx} non-2xx, ${row.socketErrors} socket`,
      ];
    lines.push(`| ${[row.title, row.server, ...cells].join(" | ")} |`);
  }
  lines.push(
    "",
    "Peak RSS is the highest sum of VmRSS over the server's whole process tree " +
      "(sampled every 200 ms from /proc during the warm-up and the measured runs); " +
      "pages shared between forked processes count once per process. Peak PSS " +
      "splits shared pages between the processes that share them. " +
      "Errors are wrk's non-2xx responses and socket errors (connect, read, write, timeout).",
    "",
  );
  return lines.join("\n");
}

async function main(running: Set<Stoppable>): Promise<void> {
  const config = settings(Deno.args);
  if (config.cold) return await coldStart(config.rounds);
  const missing = missingPackages(config.servers);
  if (missing.length) {
    console.error(
      `Missing Debian packages: ${missing.join(", ")}. Install them with:\n` +
        `  sudo apt-get install -y ${missing.join(" ")}\n` +
        `or leave their servers out with --servers.`,
    );
    Deno.exit(2);
  }
  const known = await versions();
  const { cold: _, out, scenarios, servers, server, ...load } = config;
  const results: Results = {
    date: new Date().toISOString(),
    machine: await machine(),
    settings: { ...load, ...server },
    versions: known,
    servers: Object.fromEntries(
      servers.map((name) => [name, SERVERS[name].describe(server, known)]),
    ),
    rows: scenarios.flatMap(({ id, title }) =>
      servers.map((name) => ({
        scenario: id,
        title,
        server: name,
        status: "ok" as const,
      }))
    ),
  };
  const row = (scenario: Scenario, server: string) =>
    results.rows.find((r) =>
      r.scenario === scenario.id && r.server === server
    )!;
  for (const app of new Set(scenarios.map((s) => s.app))) {
    const ofApp = scenarios.filter((s) => s.app === app);
    await measureApp(ofApp, { config, row, running });
  }
  summarize(results.rows);
  await Deno.mkdir(out, { recursive: true });
  const json = JSON.stringify(results, null, 2) + "\n";
  await Deno.writeTextFile(`${out}/results.json`, json);
  const markdown = renderMarkdown(results);
  await Deno.writeTextFile(`${out}/results.md`, markdown);
  console.log(markdown);
  log(`wrote ${out}/results.json and results.md`);
  if (results.rows.some((r) => r.status === "failed")) Deno.exitCode = 1;
}

if (import.meta.main) {
  const running = new Set<Stoppable>();
  // Ctrl-C: stop the servers (and databases) started so far before leaving.
  const interrupt = async () => {
    log("interrupted: stopping the servers");
    await Promise.allSettled([...running].map((server) => server.stop()));
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupt);
  Deno.addSignalListener("SIGTERM", interrupt);
  try {
    await main(running);
  } finally {
    Deno.removeSignalListener("SIGINT", interrupt);
    Deno.removeSignalListener("SIGTERM", interrupt);
  }
}
