/**
 * What the server's front costs per request: hello world through a
 * TypeScript route behind `Deno.serve`, behind the library's `serve()`
 * (connection timeouts and limits), and behind `node:http`'s server (a
 * bare handler). Each runs in its own process; wrk drives it and the
 * process's CPU time is divided by the requests answered.
 *
 *   deno run -A bench/front_overhead.ts [--rounds 3] [--seconds 5]
 *
 * Linux only (reads /proc); needs wrk.
 *
 * @module
 */

import { freePort } from "../tests/servers.ts";
import { loadAverage, runWrk, treeCpuSeconds } from "./measure.ts";
import { parseOptions } from "./options.ts";
import { launchServer } from "./servers.ts";

const options = parseOptions(
  "Usage: npx -y deno@2.9.6 run -A bench/front_overhead.ts [options]",
  { rounds: ["3", "rounds per server"], seconds: ["5", "seconds per round"] },
);
const rounds = options.whole("rounds");
const seconds = options.whole("seconds");
const mod = new URL("../mod.ts", import.meta.url).href;

const SERVERS: Record<string, string> = {
  "Deno.serve": `
    import { createRouter } from "${mod}";
    const router = createRouter();
    router.all("/", () => new Response("hello world\\n"));
    Deno.serve({ hostname: "127.0.0.1", port: PORT, onListen() {} }, router.fetch);`,
  "serve()": `
    import { createRouter, serve } from "${mod}";
    const router = createRouter();
    router.all("/", () => new Response("hello world\\n"));
    serve({ hostname: "127.0.0.1", port: PORT, onListen() {} }, router.fetch);`,
  "node:http": `
    import http from "node:http";
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("hello world\\n");
    });
    server.keepAliveTimeout = 2000;
    server.headersTimeout = 15000;
    server.maxConnections = 1000;
    server.listen(PORT, "127.0.0.1");`,
};

for (const [name, source] of Object.entries(SERVERS)) {
  const port = freePort();
  const server = await launchServer(name, {
    command: Deno.execPath(),
    args: ["eval", source.replace("PORT", String(port))],
  }, { port, readyPath: "/" });
  const url = `${server.baseUrl}/`;
  const wrk = (durationSeconds: number) =>
    runWrk(url, { connections: 32, threads: 2, durationSeconds });
  try {
    await wrk(2); // warm-up
    for (let round = 1; round <= rounds; round++) {
      const before = treeCpuSeconds(server.pid);
      const { requests, requestsPerSecond } = await wrk(seconds);
      const cpu = (treeCpuSeconds(server.pid) - before) * 1e6 / requests;
      console.log(
        `${name} round ${round}: ${requestsPerSecond} req/s, ${
          cpu.toFixed(1)
        } µs CPU per request, load ${loadAverage().split(" ")[0]}`,
      );
    }
  } finally {
    await server.stop();
  }
}
