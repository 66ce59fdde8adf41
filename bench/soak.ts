/**
 * The soak: mixed load on one gateway server for a set time or number of
 * requests, with the server's and each worker's RSS sampled every minute,
 * to see whether memory levels off and whether any request fails.
 *
 * The load: hello world, the Flask example's JSON, a row from PostgreSQL
 * (a private server, as the bench's flask-db scenario starts), a 64 KiB
 * upload, a static file through an alias, from `--clients` clients at
 * once, one request after another; and a request that never returns
 * (ended by requestTimeout, 3 s) every `--timeout-every` seconds. Every
 * request but those must answer 200. Workers are child processes
 * (`isolation: "process"`), so that each has an RSS of its own.
 *
 * Run: npx -y deno@2.9.6 task bench:soak [--minutes 30] [--requests N]
 *   [--clients 4] [--timeout-every 60] [--json FILE]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadavg } from "node:os";
import { ensurePythonPackages } from "../tests/python_packages.ts";
import { processTree, stopTree } from "./measure.ts";
import { ROOT } from "./servers.ts";

const MIB = 1024 * 1024;
const UPLOAD = new Uint8Array(64 * 1024);

/** The mixed load: path, weight, and the body of a POST. */
const MIX: {
  kind: string;
  path: string;
  weight: number;
  body?: Uint8Array<ArrayBuffer>;
}[] = [
  { kind: "hello", path: "/hello/", weight: 4 },
  { kind: "flask", path: "/app/api/items", weight: 2 },
  { kind: "db", path: "/db/row/42", weight: 2 },
  { kind: "upload", path: "/upload/", weight: 1, body: UPLOAD },
  { kind: "static", path: "/media/site.css", weight: 2 },
];
const TOTAL_WEIGHT = MIX.reduce((sum, item) => sum + item.weight, 0);

function pick(): (typeof MIX)[number] {
  let at = Math.random() * TOTAL_WEIGHT;
  for (const item of MIX) {
    if ((at -= item.weight) < 0) return item;
  }
  return MIX[0];
}

function rssOf(pid: number): number | undefined {
  try {
    const match = Deno.readTextFileSync(`/proc/${pid}/status`).match(
      /^VmRSS:\s+(\d+) kB/m,
    );
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One minute's sample: the server's own RSS and each worker process's
 * (the tree below it: a worker and its relay, summed per direct child).
 */
interface Sample {
  minute: number;
  requests: number;
  serverMiB: number;
  workersMiB: number[];
  load: string;
}

function sample(root: number, minute: number, requests: number): Sample {
  const server = rssOf(root) ?? 0;
  const workers: number[] = [];
  for (const pid of processTree(root).slice(1)) {
    let ppid: number;
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      continue; // exited meanwhile (a worker replaced)
    }
    if (ppid !== root) continue;
    let rss = 0;
    for (const below of processTree(pid)) rss += rssOf(below) ?? 0;
    workers.push(rss);
  }
  return {
    minute,
    requests,
    serverMiB: Math.round(server / MIB),
    workersMiB: workers.map((bytes) => Math.round(bytes / MIB)),
    load: loadavg().map((n) => n.toFixed(1)).join(" "),
  };
}

/** A small ASCII chart of total RSS per minute. */
function chart(samples: Sample[]): string {
  const totals = samples.map((s) =>
    s.serverMiB + s.workersMiB.reduce((a, b) => a + b, 0)
  );
  const top = Math.max(...totals);
  return samples.map((s, i) =>
    `${String(s.minute).padStart(3)} min ${String(totals[i]).padStart(5)} MiB ${
      "#".repeat(Math.round(totals[i] / top * 40))
    }`
  ).join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: "30" },
      requests: { type: "string" },
      clients: { type: "string", default: "4" },
      "timeout-every": { type: "string", default: "60" },
      isolation: { type: "string", default: "process" },
      json: { type: "string" },
    },
  });
  const minutes = Number(values.minutes);
  const limit = values.requests ? Number(values.requests) : Infinity;
  const clients = Number(values.clients);
  const { startPostgres, freePort } = await import("../tests/servers.ts");
  const postgres = await startPostgres();
  const sitePackages = await ensurePythonPackages();
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}bench/soak_server.ts`],
    env: {
      SOAK_SERVER: JSON.stringify({
        port,
        pythonPath: [sitePackages],
        env: { DATABASE_URL: postgres.url, BENCH_DB_POOL: "5" },
        group: { isolation: values.isolation },
      }),
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write: (text) => void (log = (log + text).slice(-20_000)),
    }),
  ).catch(() => {});
  const base = `http://127.0.0.1:${port}`;
  const counts: Record<string, Record<string, number>> = {};
  const count = (kind: string, status: string) => {
    counts[kind] ??= {};
    counts[kind][status] = (counts[kind][status] ?? 0) + 1;
  };
  let sent = 0;
  let failed = 0;
  const samples: Sample[] = [];
  try {
    const deadline = Date.now() + 180_000;
    for (;;) {
      try {
        const response = await fetch(`${base}/soak/metrics`);
        await response.body?.cancel();
        if (response.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`no server:\n${log}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    for (const item of MIX) {
      const response = await fetch(`${base}${item.path}`, {
        method: item.body ? "POST" : "GET",
        body: item.body,
      });
      await response.body?.cancel();
    }
    const started = Date.now();
    const end = started + minutes * 60_000;
    const running = () => Date.now() < end && sent < limit;
    samples.push(sample(child.pid, 0, 0));
    const sampler = setInterval(() => {
      samples.push(
        sample(child.pid, Math.round((Date.now() - started) / 60_000), sent),
      );
      console.log(JSON.stringify(samples.at(-1)));
    }, 60_000);
    const worker = async () => {
      while (running()) {
        const item = pick();
        sent++;
        try {
          const response = await fetch(`${base}${item.path}`, {
            method: item.body ? "POST" : "GET",
            body: item.body,
          });
          await response.arrayBuffer();
          count(item.kind, String(response.status));
          if (response.status !== 200) failed++;
        } catch (error) {
          count(item.kind, (error as Error).name);
          failed++;
        }
      }
    };
    const timeouts = (async () => {
      const every = Number(values["timeout-every"]) * 1000;
      while (running()) {
        await new Promise((resolve) =>
          setTimeout(resolve, Math.max(0, Math.min(every, end - Date.now())))
        );
        if (!running()) break;
        const response = await fetch(`${base}/hello/loop`).catch(() => null);
        await response?.body?.cancel();
        count("timeout", String(response?.status ?? "error"));
      }
    })();
    await Promise.all(Array.from({ length: clients }, worker));
    clearInterval(sampler);
    const last = sample(
      child.pid,
      Math.round((Date.now() - started) / 60_000),
      sent,
    );
    // The minute's own sample may have just been taken.
    if (samples.at(-1)?.minute !== last.minute) samples.push(last);
    await timeouts;
    const metrics = await (await fetch(`${base}/soak/metrics`)).json();
    const minutesRun = (Date.now() - started) / 60_000;
    const result = {
      date: new Date().toISOString(),
      minutes: Number(minutesRun.toFixed(1)),
      requests: sent,
      failed,
      counts,
      samples,
      metrics: {
        requests: metrics.requests,
        starts: metrics.starts,
        restarts: metrics.restarts,
        timeouts: metrics.timeouts,
        crashes: metrics.crashes,
      },
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(chart(samples));
    if (values.json) {
      await Deno.writeTextFile(values.json, JSON.stringify(result, null, 2));
    }
  } finally {
    await stopTree(child);
    await postgres.stop();
  }
}
