/**
 * The demo: a Hono server with TypeScript routes, static aliases and a WSGI
 * app side by side.
 *
 * Run: npx -y deno@2.9.6 task demo [--port 8000] [--processes 1] [--app path/to/app.wsgi]
 *
 * @module
 */

import { Hono } from "hono";
import { alias, defineGroup, mountWsgi } from "../mod.ts";
import { parseExampleFlags, serveExample } from "./serve_example.ts";

const flags = parseExampleFlags({
  app: new URL("./hello/app.wsgi", import.meta.url).pathname,
  prefix: "/myapp",
});
const prefix = flags.extra.prefix!;

const here = new URL(".", import.meta.url).pathname;
const app = new Hono();
app.get("/api/ping", (c) => c.text("pong"));
alias(app, "/robots.txt", `${here}hello/static/robots.txt`);
alias(app, "/favicon.ico", `${here}hello/static/favicon.ico`);
alias(app, "/media/", `${here}hello/static/media/`);
const group = defineGroup("demo", { processes: flags.processes });
const mount = mountWsgi(app, prefix, flags.extra.app!, { group });

await serveExample(app.fetch, mount, flags, {
  listening: (base) => `Listening on ${base}/ : try ${prefix}/ and /api/ping`,
  ready: () => "Python is ready",
});
