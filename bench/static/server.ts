/**
 * The Deno side of bench/static_bench.ts: serves a folder at "/media/"
 * through src/aliases.ts, either bare (createAlias/matchAlias/serveAlias in
 * a Deno.serve handler) or through the public alias() on a Hono app, and
 * prints `{"port": N}` on stdout once it listens.
 *
 * Usage: deno run -A bench/static/server.ts --root DIR [--via hono]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Hono } from "hono";
import { createAlias, matchAlias, serveAlias } from "../../src/aliases.ts";
import { alias } from "../../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    root: { type: "string" },
    via: { type: "string", default: "bare" },
  },
});
if (!values.root) {
  throw new Error(
    "server.ts: --root DIR is required: the folder served at /media/",
  );
}

function rawPathname(url: string): string {
  const target = url.slice(url.indexOf("/", url.indexOf("://") + 3));
  const end = target.search(/[?#]/);
  return end < 0 ? target : target.slice(0, end);
}

let handler: (request: Request) => Response | Promise<Response>;
if (values.via === "hono") {
  const app = new Hono();
  alias(app, "/media/", values.root);
  handler = app.fetch;
} else if (values.via === "bare") {
  const media = createAlias("/media/", values.root);
  handler = (request) => {
    const remainder = matchAlias(media, rawPathname(request.url));
    return remainder === null
      ? new Response("not found\n", { status: 404 })
      : serveAlias(media, request, remainder);
  };
} else {
  throw new Error(
    `server.ts: --via must be "bare" or "hono", got "${values.via}"`,
  );
}

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen({ port }) {
    console.log(JSON.stringify({ port }));
  },
}, handler);
Deno.addSignalListener("SIGTERM", () => {
  server.shutdown();
});
await server.finished;
