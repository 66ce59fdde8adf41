/**
 * Throughput mode: `deno serve --parallel` runs this module in one isolate
 * per core, each with its own embedded interpreter, and the kernel spreads
 * connections over them (SO_REUSEPORT). No messages cross threads: this is
 * Apache's prefork MPM with mod_wsgi in embedded mode.
 *
 * Run: DENO_JOBS=2 npx -y deno@2.9.6 serve --parallel --allow-read --allow-env --allow-net --allow-sys --port 8000 examples/parallel.ts
 *
 * @module
 */

import { createRouter, defineGroup, mountWsgi } from "../mod.ts";

const script = Deno.env.get("WSGI_SCRIPT") ??
  new URL("./hello/app.wsgi", import.meta.url).pathname;
const router = createRouter();
router.get("/api/ping", () => new Response("pong"));
const group = defineGroup("parallel", { processes: 0 });
mountWsgi(router, Deno.env.get("WSGI_PREFIX") ?? "/myapp", script, { group });
await group.ready();

// `deno serve` needs a default export: this is an entry point, not a library module.
export default { fetch: router.fetch } satisfies Deno.ServeDefaultExport;
