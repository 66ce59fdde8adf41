/**
 * A Bottle to-do app mounted at /bottle in a Hono server, its stylesheet
 * served by an alias.
 *
 * Run: npx -y deno@2.9.6 task example:bottle [--port 8000] [--processes 1]
 *
 * @module
 */

import { Hono } from "hono";
import { fileURLToPath } from "node:url";
import {
  alias,
  defineGroup,
  mountWsgi,
  type ProcessGroup,
  type WsgiMount,
} from "../../mod.ts";
import { ensurePythonPackages } from "../../tests/python_packages.ts";
import { parseExampleFlags, serveExample } from "../serve_example.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** Options of `createBottleExample()`. */
export interface BottleExampleOptions {
  /** Web Workers running Bottle; 0 runs it embedded. Default 1. */
  processes?: number;
  /** Name of the process group. Default "bottle". */
  groupName?: string;
  /** The key that signs Bottle's cookie. Default: a development key. */
  secret?: string;
}

/** The example's parts, for a server or a test to use. */
export interface BottleExample {
  /** The Hono app: a TypeScript route, an alias and the Bottle mount. */
  app: Hono;
  /** The process group running Bottle. */
  group: ProcessGroup;
  /** The Bottle mount at /bottle. */
  mount: WsgiMount;
}

/**
 * Builds the Hono app with Bottle mounted at /bottle, Bottle taken from
 * `sitePackages` (a `pip install --target` folder).
 *
 * @example
 * ```ts ignore
 * const { app, mount } = createBottleExample(await ensurePythonPackages());
 * Deno.serve(app.fetch);
 * await mount.ready();
 * ```
 */
export function createBottleExample(
  sitePackages: string,
  options: BottleExampleOptions = {},
): BottleExample {
  const app = new Hono();
  app.get("/", (c) => c.redirect("/bottle/"));
  app.get("/api/ping", (c) => c.text("pong from TypeScript"));
  alias(app, "/bottle/static/", `${HERE}static/`);
  const group = defineGroup(options.groupName ?? "bottle", {
    processes: options.processes ?? 1,
    pythonPath: [sitePackages],
    // In the snapshot every later worker starts from (README: Cold start).
    preload: ["bottle"],
    env: options.secret ? { BOTTLE_SECRET: options.secret } : {},
  });
  const mount = mountWsgi(app, "/bottle", `${HERE}app.wsgi`, { group });
  return { app, group, mount };
}

if (import.meta.main) {
  const flags = parseExampleFlags();
  const sitePackages = await ensurePythonPackages();
  const { app, mount } = createBottleExample(sitePackages, {
    processes: flags.processes,
    secret: Deno.env.get("BOTTLE_SECRET"),
  });
  await serveExample(app.fetch, mount, flags, {
    listening: (base) => `Listening on ${base}/bottle/`,
    ready: () => "Bottle is ready",
  });
}
