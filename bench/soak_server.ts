/**
 * The server of the soak (bench/soak.ts): one group of workers serving four
 * WSGI scripts in one interpreter per worker (hello with a route that never
 * returns, the Flask example, Flask on PostgreSQL, an upload counter), a
 * static folder through an alias, and `/soak/metrics` (the group's
 * metrics as JSON). Settings come as JSON in `SOAK_SERVER`:
 * `{ port, pythonPath, env, group }`.
 *
 * @module
 */

import { alias, createRouter, defineGroup, mountWsgi } from "../mod.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const config = JSON.parse(Deno.env.get("SOAK_SERVER") ?? "{}");
const router = createRouter();
const group = defineGroup("soak", {
  processes: 2,
  requestTimeout: 3,
  startupTimeout: 180,
  queueLimit: 4096,
  pythonPath: config.pythonPath ?? [],
  env: config.env ?? {},
  preload: ["flask"],
  ...config.group,
});
// One interpreter per worker for the four scripts, as
// WSGIApplicationGroup %{GLOBAL} gives them under mod_wsgi.
const mount = { group, reload: false, applicationGroup: "%{GLOBAL}" };
mountWsgi(router, "/hello", `${ROOT}bench/apps/loop.py`, mount);
mountWsgi(
  router,
  "/app",
  `${ROOT}examples/flask-beside-hono/app.wsgi`,
  mount,
);
mountWsgi(router, "/db", `${ROOT}bench/apps/flask_db.py`, mount);
mountWsgi(router, "/upload", `${ROOT}bench/apps/upload.py`, mount);
alias(router, "/media/", `${ROOT}examples/hello/static/media/`);
router.all("/soak/metrics", () => Response.json(group.metrics()));
await group.ready();
Deno.serve(
  { hostname: "127.0.0.1", port: config.port, onListen() {} },
  router.fetch,
);
