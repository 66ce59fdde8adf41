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

import { freePort } from "../tests/servers.ts";
import { loadAverage, parentOf, processTree, treeMemory } from "./measure.ts";
import { parseOptions } from "./options.ts";
import { prepareSite, SCENARIOS } from "./scenarios.ts";
import { GATEWAY_SERVER, launchServer, ROOT } from "./servers.ts";

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
  const mib = (pids: number[]) =>
    Math.round(treeMemory(root, pids).rssBytes / MIB);
  const workers = processTree(root).filter((pid) => parentOf(pid) === root);
  return {
    minute,
    requests,
    serverMiB: mib([root]),
    workersMiB: workers.map((pid) => mib(processTree(pid))),
    load: loadAverage(),
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
  const options = parseOptions(
    "Usage: npx -y deno@2.9.6 task bench:soak -- [options]",
    {
      minutes: ["30", "how long the load lasts"],
      requests: [undefined, "or how many requests"],
      clients: ["4", "clients at once"],
      "timeout-every": ["60", "seconds between requests that never return"],
      isolation: ["process", "the group's isolation"],
      json: [undefined, "a file for the result as JSON"],
    },
  );
  const minutes = Number(options.text("minutes"));
  const limit = options.text("requests") ? options.whole("requests") : Infinity;
  const clients = options.whole("clients");
  // PostgreSQL and the packages, as the flask-db scenario has them.
  const db = await prepareSite(SCENARIOS.find((s) => s.id === "flask-db")!.app);
  const port = freePort();
  const server = await launchServer("soak", {
    command: Deno.execPath(),
    args: ["run", "-A", GATEWAY_SERVER],
    env: {
      BENCH_GATEWAY: JSON.stringify({
        port,
        app: `${ROOT}bench/apps/loop.py`,
        prefix: "/hello",
        mounts: [
          ["/app", `${ROOT}examples/flask-beside-hono/app.wsgi`],
          ["/db", `${ROOT}bench/apps/flask_db.py`],
          ["/upload", `${ROOT}bench/apps/upload.py`],
        ],
        aliases: [{
          urlPath: "/media/",
          directory: `${ROOT}examples/hello/static/media/`,
        }],
        metricsPath: "/soak/metrics",
        pythonPath: db.pyodidePath,
        env: { ...db.env, BENCH_DB_POOL: "5" },
        group: {
          processes: 2,
          requestTimeout: 3,
          preload: ["flask"],
          isolation: options.text("isolation"),
        },
      }),
    },
  }, { port, readyPath: "/soak/metrics" }).catch(async (error) => {
    await db.stop?.();
    throw error;
  });
  const base = `http://127.0.0.1:${port}`;
  const request = ({ path, body }: typeof MIX[number]) =>
    fetch(base + path, { method: body ? "POST" : "GET", body });
  const counts: Record<string, Record<string, number>> = {};
  const count = (kind: string, status: string) => {
    counts[kind] ??= {};
    counts[kind][status] = (counts[kind][status] ?? 0) + 1;
  };
  let sent = 0;
  let failed = 0;
  const samples: Sample[] = [];
  try {
    for (const item of MIX) await (await request(item)).body?.cancel();
    const started = Date.now();
    const end = started + minutes * 60_000;
    const running = () => Date.now() < end && sent < limit;
    const now = () =>
      sample(server.pid, Math.round((Date.now() - started) / 60_000), sent);
    samples.push(now());
    const sampler = setInterval(() => {
      samples.push(now());
      console.log(JSON.stringify(samples.at(-1)));
    }, 60_000);
    const worker = async () => {
      while (running()) {
        const item = pick();
        sent++;
        try {
          const response = await request(item);
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
      const every = options.whole("timeout-every") * 1000;
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
    const last = now();
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
      metrics: Object.fromEntries(
        ["requests", "starts", "restarts", "timeouts", "crashes"]
          .map((key) => [key, metrics[key]]),
      ),
    };
    const json = JSON.stringify(result, null, 2);
    console.log(json);
    console.log(chart(samples));
    if (options.text("json")) {
      await Deno.writeTextFile(options.text("json")!, json);
    }
  } finally {
    await server.stop();
    await db.stop?.();
  }
}
