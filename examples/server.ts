/**
 * The demo: a Hono server with TypeScript routes, static aliases and a WSGI
 * app side by side.
 *
 * Run: npx -y deno@2.9.6 task demo [--port 8000] [--processes 1] [--app path/to/app.wsgi]
 *
 * @module
 */

import { Hono } from "hono";
import { parseArgs } from "node:util";
import { alias, defineGroup, mountWsgi } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "8000" },
    hostname: { type: "string", default: "127.0.0.1" },
    processes: { type: "string", default: "1" },
    app: {
      type: "string",
      default: new URL("./hello/app.wsgi", import.meta.url).pathname,
    },
    prefix: { type: "string", default: "/myapp" },
  },
});

const here = new URL(".", import.meta.url).pathname;
const app = new Hono();
app.get("/api/ping", (c) => c.text("pong"));
alias(app, "/robots.txt", `${here}hello/static/robots.txt`);
alias(app, "/favicon.ico", `${here}hello/static/favicon.ico`);
alias(app, "/media/", `${here}hello/static/media/`);
const group = defineGroup("demo", { processes: Number(values.processes) });
const mount = mountWsgi(app, values.prefix, values.app, { group });

const server = Deno.serve({
  hostname: values.hostname,
  port: Number(values.port),
  onListen: ({ hostname, port }) =>
    console.log(
      `Listening on http://${hostname}:${port}/ : try ${values.prefix}/ and /api/ping`,
    ),
}, app.fetch);
await mount.ready();
console.log("Python is ready");
await server.finished;
