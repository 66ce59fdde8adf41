/**
 * The edge demo: a Flask app and a TypeScript route in one isolate, the way
 * an edge runtime runs code: Python embedded (no Web Workers, no child
 * processes), no writes to disk, and Python started from a snapshot shipped
 * beside this file instead of booting and importing Flask on the first
 * request.
 *
 * Build once, where it will run (installs Flask into site-packages/ and
 * saves snapshot/):
 *
 *   npx -y deno@2.9.6 run -A examples/edge/server.ts --build
 *
 * Serve with nothing but reading this folder and Pyodide, and the port:
 *
 *   npx -y deno@2.9.6 run --allow-read=examples/edge,node_modules \
 *     --allow-net=127.0.0.1:8000 examples/edge/server.ts
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  buildSnapshot,
  createRouter,
  defineGroup,
  type GroupOptions,
  mountWsgi,
} from "../../mod.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url)).replace(/\/$/, "");

/** The group's options: building and serving must agree on them. */
const EDGE_GROUP: GroupOptions = {
  processes: 0,
  // A timeout needs a watchdog Web Worker, which edge runtimes do not
  // have: their own CPU limit ends a runaway request instead.
  requestTimeout: 0,
  pythonPath: [`${HERE}/site-packages`],
  preload: ["flask"],
};

async function build(): Promise<void> {
  const { ensurePythonPackages } = await import(
    "../../tests/python_packages.ts"
  );
  await ensurePythonPackages({
    target: `${HERE}/site-packages`,
    requirements: `${HERE}/requirements.txt`,
  });
  const path = await buildSnapshot(EDGE_GROUP, {
    folder: `${HERE}/snapshot`,
  });
  console.log(`snapshot saved: ${path}`);
}

async function serve(port: number): Promise<void> {
  const started = performance.now();
  const router = createRouter();
  router.get("/api/ping", () => new Response("pong\n"));
  const group = defineGroup("edge", {
    ...EDGE_GROUP,
    snapshot: { folder: `${HERE}/snapshot`, write: false },
  });
  const mount = mountWsgi(router, "/", `${HERE}/app/edge_app.py`, {
    group,
    callable: "app",
    reload: false,
  });
  Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ port }) =>
      console.log(`Listening on http://127.0.0.1:${port}/`),
  }, router.fetch);
  await mount.ready();
  console.log(
    `Python ready in ${Math.round(performance.now() - started)} ms`,
  );
}

if (import.meta.main) {
  if (Deno.args.includes("--build")) {
    await build();
  } else {
    const at = Deno.args.indexOf("--port");
    await serve(at >= 0 ? Number(Deno.args[at + 1]) : 8000);
  }
}
