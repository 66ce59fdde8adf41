/**
 * A Flask 3 application mounted at /app in a Hono server that also has
 * TypeScript routes (/api/ping, /api/time) and static aliases (Flask's
 * static folder at /app/static/, /robots.txt), served natively.
 *
 * Run: npx -y deno@2.9.6 task example:flask [--port 8000] [--processes 1]
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

/** Options of `createFlaskExample()`. */
export interface FlaskExampleOptions {
  /** Web Workers running Flask; 0 runs it embedded. Default 1. */
  processes?: number;
  /** Name of the process group. Default "flask". */
  groupName?: string;
  /** The key that signs Flask's session cookie. Default: a development key. */
  secretKey?: string;
}

/** The example's parts, for a server or a test to use. */
export interface FlaskExample {
  /** The Hono app: TypeScript routes, aliases and the Flask mount. */
  app: Hono;
  /** The process group running Flask. */
  group: ProcessGroup;
  /** The Flask mount at /app. */
  mount: WsgiMount;
}

/**
 * Builds the Hono app with Flask mounted at /app, Flask's packages taken
 * from `sitePackages` (a `pip install --target` folder).
 *
 * @example
 * ```ts ignore
 * import { ensurePythonPackages } from "../../tests/python_packages.ts";
import { parseExampleFlags, serveExample } from "../serve_example.ts";
 * const { app, mount } = createFlaskExample(await ensurePythonPackages());
 * Deno.serve(app.fetch);
 * await mount.ready();
 * ```
 */
export function createFlaskExample(
  sitePackages: string,
  options: FlaskExampleOptions = {},
): FlaskExample {
  const app = new Hono();
  app.get("/", (c) =>
    c.html(
      `<h1>Hono</h1><p>Flask is at <a href="/app/">/app/</a>; TypeScript answers <a href="/api/ping">/api/ping</a> and <a href="/api/time">/api/time</a>.</p>`,
    ));
  app.get("/api/ping", (c) => c.text("pong from TypeScript"));
  app.get("/api/time", (c) => c.json({ now: new Date().toISOString() }));
  // Like Apache's "Alias /app/static/ .../static/": Flask's static files
  // never reach Python, although they live under the Flask mount.
  alias(app, "/app/static/", `${HERE}static/`);
  alias(app, "/robots.txt", `${HERE}static/robots.txt`);
  const group = defineGroup(options.groupName ?? "flask", {
    processes: options.processes ?? 1,
    pythonPath: [sitePackages],
    // In the snapshot every later worker starts from (README: Cold start).
    preload: ["flask"],
    env: options.secretKey ? { FLASK_SECRET_KEY: options.secretKey } : {},
  });
  const mount = mountWsgi(app, "/app", `${HERE}app.wsgi`, { group });
  return { app, group, mount };
}

if (import.meta.main) {
  const flags = parseExampleFlags();
  const sitePackages = await ensurePythonPackages();
  const { app, mount } = createFlaskExample(sitePackages, {
    processes: flags.processes,
    secretKey: Deno.env.get("FLASK_SECRET_KEY"),
  });
  await serveExample(app.fetch, mount, flags, {
    listening: (base) =>
      `Listening on ${base}/ : Flask at /app/, TypeScript at /api/ping`,
    ready: () => "Flask is ready",
  });
}
