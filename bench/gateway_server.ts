/**
 * The gateway as the benchmark runs it (every `gateway*` variant of
 * bench/servers.ts): one WSGI script at a prefix, its python-path, its
 * static aliases, on the library's router or a Hono app. The settings come
 * as JSON in `BENCH_GATEWAY`, because `deno serve` passes a module no
 * arguments:
 *
 * `{ app, prefix, pythonPath, aliases: [{ urlPath, directory }], env,
 * group, router?: "hono", port?, front?: "Deno.serve", readyFile?,
 * mounts?: [[prefix, script]], metricsPath? }`: `mounts` are more scripts
 * beside the app, `metricsPath` answers the group's metrics as JSON
 * (bench/soak.ts).
 *
 * With `port`, it serves on 127.0.0.1:port itself (`deno run`) through the
 * library's `serve()`, as `start-server` does (`front: "Deno.serve"`: through
 * `Deno.serve`, without the strict parser and connection limits); without,
 * it is `deno serve --parallel`'s module, evaluated once per isolate, and
 * each isolate appends a line to `readyFile` once its interpreter is
 * ready: an isolate only listens after this module's top-level `await`,
 * so until then the kernel sends every connection to the others.
 *
 * Run: BENCH_GATEWAY='{"app":"bench/apps/hello.py","prefix":"/","port":8500}' \
 *   npx -y deno@2.9.6 run -A bench/gateway_server.ts
 *
 * @module
 */

import { Hono } from "hono";
import { alias, createRouter, defineGroup, mountWsgi, serve } from "../mod.ts";
import type { Alias } from "./servers.ts";

const config = JSON.parse(Deno.env.get("BENCH_GATEWAY") ?? "{}");
if (typeof config.app !== "string") {
  throw new Error("BENCH_GATEWAY's app names the WSGI script to serve");
}
const router = config.router === "hono" ? new Hono() : createRouter();
for (const { urlPath, directory } of (config.aliases ?? []) as Alias[]) {
  alias(router, urlPath, directory);
}
const group = defineGroup("bench", {
  queueLimit: 4096,
  // A busy shared machine can take more than the default 60 s to start
  // Pyodide with Flask; the benchmark waits 180 s for a server.
  startupTimeout: 180,
  pythonPath: config.pythonPath ?? [],
  env: config.env ?? {},
  ...config.group,
});
// Scripts beside the app share its interpreter, as under
// WSGIApplicationGroup %{GLOBAL}: bench/overhead.ts's probe
// (bench/apps/app_time.py) times the app in it; bench/soak.ts serves four.
const probe = Deno.env.get("BENCH_GATEWAY_PROBE");
const mounts: [string, string][] = [
  [config.prefix ?? "/", config.app],
  ...config.mounts ?? [],
  ...probe ? [["/__app_time", probe] as [string, string]] : [],
];
const mountOptions = mounts.length > 1
  ? { group, reload: false, applicationGroup: "%{GLOBAL}" }
  : { group, reload: false };
for (const [prefix, script] of mounts) {
  mountWsgi(router, prefix, script, mountOptions);
}
if (config.metricsPath) {
  router.all(config.metricsPath, () => Response.json(group.metrics()));
}
await group.ready();
if (config.readyFile) {
  await Deno.writeTextFile(config.readyFile, "ready\n", { append: true });
}
if (config.port) {
  // start-server's front: the strict parser and mod_wsgi-express's
  // connection limits (serve()), unless the variant asks for Deno's own.
  const listen = { hostname: "127.0.0.1", port: config.port, onListen() {} };
  if (config.front === "Deno.serve") Deno.serve(listen, router.fetch);
  else serve(listen, router.fetch);
}

// `deno serve` needs a default export: this is an entry point, not a library module.
export default { fetch: router.fetch } satisfies Deno.ServeDefaultExport;
