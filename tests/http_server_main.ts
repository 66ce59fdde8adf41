/**
 * The loopback HTTP, HTTPS and silent TCP servers of tests/servers.ts, run
 * as a child Deno process (so they answer even while an embedded Python
 * interpreter blocks the test process's event loop):
 *
 *   deno run --allow-net=127.0.0.1 --allow-read tests/http_server_main.ts http PORT
 *   deno run ... tests/http_server_main.ts https PORT CERT.pem KEY.pem
 *   deno run ... tests/http_server_main.ts silent PORT
 *
 * @module
 */

const HOST = "127.0.0.1";
/** The text that every database and HTTP test round-trips. */
const UNICODE_TEXT = "héllo wörld ✓ 日本";
const MAX_SLOW_MS = 30_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The routes that startHttpServer() documents. */
async function handle(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  if (path === "/hello") return new Response("hello from the loopback server");
  if (path === "/unicode") {
    return new Response(UNICODE_TEXT, {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  if (path === "/echo") {
    return Response.json({
      method: request.method,
      path,
      query: url.search.slice(1),
      headers: Object.fromEntries(request.headers),
      body: await request.text(),
    });
  }
  const status = path.match(/^\/status\/(\d{3})$/);
  if (status) {
    return new Response(`status ${status[1]}`, { status: Number(status[1]) });
  }
  if (path === "/redirect") {
    return new Response(null, { status: 302, headers: { location: "/hello" } });
  }
  if (path === "/slow") {
    const ms = Math.min(
      Number(url.searchParams.get("ms") ?? "1000"),
      MAX_SLOW_MS,
    );
    await sleep(ms);
    return new Response(`slept ${ms} ms`);
  }
  return new Response(`no route ${path}`, { status: 404 });
}

/** Accepts connections and reads them, but never writes a byte. */
async function serveSilently(port: number): Promise<void> {
  const listener = Deno.listen({ hostname: HOST, port });
  for await (const connection of listener) {
    (async () => {
      const buffer = new Uint8Array(4096);
      try {
        while (await connection.read(buffer) !== null) {
          // discard: the client waits for an answer that never comes
        }
      } catch {
        // client reset
      } finally {
        try {
          connection.close();
        } catch {
          // already closed
        }
      }
    })();
  }
}

async function main([mode, portText, certFile, keyFile]: string[]) {
  const port = Number(portText);
  if (!Number.isInteger(port) || port <= 0) {
    throw new Error(
      `usage: http_server_main.ts http|https|silent PORT [CERT KEY]`,
    );
  }
  if (mode === "silent") return await serveSilently(port);
  const tls = mode === "https"
    ? {
      cert: await Deno.readTextFile(certFile),
      key: await Deno.readTextFile(keyFile),
    }
    : {};
  if (mode !== "http" && mode !== "https") {
    throw new Error(`unknown mode ${mode}: use http, https or silent`);
  }
  await Deno.serve({ hostname: HOST, port, onListen() {}, ...tls }, handle)
    .finished;
}

if (import.meta.main) await main(Deno.args);
