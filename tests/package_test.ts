/**
 * The library as a package: imported from an http: URL (as from any
 * registry or CDN) into a project in another folder, it serves a WSGI app
 * from a Web Worker group and from an embedded one. Before the Python half
 * moved into the module graph, every request here answered 500 "Must be a
 * file URL".
 *
 * @module
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { extname, join, normalize } from "node:path";

const root = new URL("../", import.meta.url).pathname;

/** A tiny static file server for the repository, on loopback. */
function serveRepository(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const path = normalize(decodeURIComponent(new URL(request.url).pathname));
      if (path.includes("..") || path.startsWith("/node_modules/")) {
        return new Response("no", { status: 404 });
      }
      try {
        const body = await Deno.readFile(join(root, path));
        const type = extname(path) === ".ts"
          ? "application/typescript"
          : "text/plain";
        return new Response(body, { headers: { "content-type": type } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
}

// Generous timeouts: Pyodide starts slowly on a busy machine.
const MAIN = (base: string) => `
import { createRouter, defineGroup, mountWsgi } from "${base}/mod.ts";
const slow = { startupTimeout: 300, queueTimeout: 300 };
const router = createRouter();
const worker = defineGroup("worker", { processes: 1, ...slow });
const embedded = defineGroup("embedded", { processes: 0, ...slow });
const mounts = [
  mountWsgi(router, "/worker", "./app.wsgi", { group: worker }),
  mountWsgi(router, "/embedded", "./app.wsgi", { group: embedded }),
];
await Promise.all(mounts.map((mount) => mount.ready()));
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log("PORT " + port) }, router.fetch);
`;

const APP = `
def application(environ, start_response):
    body = ("hello from " + environ["SCRIPT_NAME"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
`;

Deno.test("imported from an http: URL into another project, the library serves a WSGI app", async () => {
  const files = serveRepository();
  const project = await Deno.makeTempDir({ prefix: "deno-wsgi-project-" });
  await Deno.writeTextFile(join(project, "app.wsgi"), APP);
  await Deno.writeTextFile(
    join(project, "main.ts"),
    MAIN(`http://127.0.0.1:${files.addr.port}`),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "main.ts"],
    cwd: project,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let seen = "";
    while (!/PORT \d+/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the project exited: ${seen}`);
      seen += value;
    }
    const port = seen.match(/PORT (\d+)/)![1];
    for (const prefix of ["/worker", "/embedded"]) {
      const response = await fetch(`http://127.0.0.1:${port}${prefix}/`);
      assertEquals(
        [response.status, await response.text()],
        [200, `hello from ${prefix}`],
      );
    }
    reader.releaseLock();
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel();
    await files.shutdown();
    await Deno.remove(project, { recursive: true });
  }
});
