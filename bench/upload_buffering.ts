/**
 * Upload throughput through one Web Worker, for request buffering (issue
 * 13): wall and CPU time per upload of 1 MiB and 64 MiB bodies, with the
 * load average beside them. Point it at a checkout to compare two commits
 * in one sitting:
 *
 *   deno run -A bench/upload_buffering.ts [CHECKOUT] [--streaming] [--rounds N]
 *
 * `--streaming` mounts with `requestBuffering: false` (the way every body
 * over 256 KiB went before buffering). CPU time is the whole process's
 * (server thread and worker), from `process.cpuUsage()`.
 *
 * @module
 */

import process from "node:process";
import { loadAverage } from "./measure.ts";
import { parseOptions } from "./options.ts";

const options = parseOptions(
  "Usage: npx -y deno@2.9.6 run -A bench/upload_buffering.ts [CHECKOUT] [options]",
  {
    streaming: [false, "mount with requestBuffering: false"],
    rounds: ["40", "1 MiB uploads (64 MiB ones: an eighth, at least 3)"],
  },
  { positionals: true },
);
// Not servers.ts's ROOT: that module loads this checkout's mod.ts.
const root = options.positionals[0] ??
  new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const rounds = options.whole("rounds");
const { createRouter, defineGroup, mountWsgi } = await import(
  `${root}/mod.ts`
);
const group = defineGroup("upload-buffering", {
  processes: 1,
  requestTimeout: 120,
});
const router = createRouter();
const mount: Record<string, unknown> = { group, limitRequestBody: 0 };
if (options.flag("streaming")) mount.requestBuffering = false;
mountWsgi(
  router,
  "/",
  new URL("./apps/upload.py", import.meta.url).pathname,
  mount,
);
await group.ready();
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  router.fetch,
);
const url = `http://127.0.0.1:${server.addr.port}/`;
const MIB = 1024 * 1024;

async function upload(body: Uint8Array<ArrayBuffer>): Promise<void> {
  const response = await fetch(url, { method: "POST", body });
  const text = await response.text();
  if (text !== String(body.length)) throw new Error(`the app read ${text}`);
}

const results: Record<string, unknown> = {
  checkout: root,
  streaming: options.flag("streaming"),
  loadBefore: loadAverage(),
};
for (const [mib, count] of [[1, rounds], [64, Math.max(3, rounds / 8)]]) {
  const body = new Uint8Array(mib * MIB).fill(97);
  for (let i = 0; i < 3; i++) await upload(body);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < count; i++) await upload(body);
  const wall = (performance.now() - started) / count;
  const used = process.cpuUsage(cpu);
  results[`${mib}MiB`] = {
    uploads: count,
    msPerUpload: Math.round(wall * 10) / 10,
    mibPerSecond: Math.round(mib / (wall / 1000)),
    cpuMsPerUpload: Math.round((used.user + used.system) / 100 / count) / 10,
  };
}
results.loadAfter = loadAverage();
console.log(JSON.stringify(results));
await server.shutdown();
await group.shutdown();
