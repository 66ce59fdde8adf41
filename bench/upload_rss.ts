/**
 * Benchmark (not a test): a large upload streams through the gateway
 * without being held whole in memory. Sends N MiB (default 512) with curl
 * to a WSGI app that reads wsgi.input in 1 MiB blocks, and reports the
 * server process's peak RSS before and during the upload.
 *
 * Run: npx -y deno@2.9.6 run -A bench/upload_rss.ts [--mib 512] [--processes 1]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createRouter, defineGroup, mountWsgi, shutdown } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    mib: { type: "string", default: "512" },
    processes: { type: "string", default: "1" },
  },
});
const mib = Number(values.mib);
const processes = Number(values.processes);

function peakRss(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const match = status.match(/VmHWM:\s+(\d+) kB/);
  return match ? Number(match[1]) / 1024 : NaN;
}

const router = createRouter();
const group = defineGroup("upload", { processes, requestTimeout: 600 });
mountWsgi(
  router,
  "/app",
  new URL("../tests/apps/conformance.wsgi", import.meta.url).pathname,
  { group },
);
await group.ready();
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  router.fetch,
);
const url = `http://127.0.0.1:${server.addr.port}/app/echo?mode=size`;
// Warm up so the baseline includes a served request.
await (await fetch(url, { method: "POST", body: "x" })).text();
const before = peakRss();
const started = performance.now();
const curl = new Deno.Command("bash", {
  args: [
    "-c",
    `head -c ${
      mib * 1024 * 1024
    } /dev/zero | curl -s -T - -X POST -H 'Content-Type: application/octet-stream' '${url}'`,
  ],
  stdout: "piped",
}).spawn();
const output = await curl.output();
const seconds = (performance.now() - started) / 1000;
const received = new TextDecoder().decode(output.stdout).trim();
const after = peakRss();
console.log(
  JSON.stringify({
    date: new Date().toISOString().slice(0, 10),
    mode: processes === 0 ? "embedded" : `${processes} worker(s)`,
    uploadedMiB: mib,
    appCountedBytes: Number(received),
    correct: Number(received) === mib * 1024 * 1024,
    seconds: Number(seconds.toFixed(2)),
    throughputMiBps: Number((mib / seconds).toFixed(1)),
    peakRssBeforeMiB: Math.round(before),
    peakRssAfterMiB: Math.round(after),
    peakRssGrowthMiB: Math.round(after - before),
  }),
);
await server.shutdown();
await shutdown();
