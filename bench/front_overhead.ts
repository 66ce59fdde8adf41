/**
 * What the server's front costs per request: hello world through a
 * TypeScript route behind `Deno.serve`, behind the library's `serve()`
 * (connection timeouts and limits), and behind `node:http`'s server (a
 * bare handler). Each runs in its own process; wrk drives it and the
 * process's CPU time (utime + stime from /proc/PID/stat) is divided by
 * the requests answered.
 *
 *   deno run -A bench/front_overhead.ts [--rounds 3] [--seconds 5]
 *
 * Linux only (reads /proc); needs wrk.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
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

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function cpuTicks(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]
    .split(" ");
  // utime and stime are fields 14 and 15 of stat; 12 and 13 after ") ".
  return Number(fields[11]) + Number(fields[12]);
}

async function wrk(url: string, duration: number) {
  const output = await new Deno.Command("wrk", {
    args: ["-t2", "-c32", `-d${duration}s`, url],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  return {
    requests: Number(/(\d+) requests in/.exec(text)?.[1] ?? 0),
    perSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0),
  };
}

const TICK_NS = 1e9 / 100; // USER_HZ is 100 on Linux

for (const [name, source] of Object.entries(SERVERS)) {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", source.replace("PORT", String(port))],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 200; i++) {
    try {
      await (await fetch(url)).body?.cancel();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  await wrk(url, 2); // warm-up
  for (let round = 1; round <= rounds; round++) {
    const before = cpuTicks(child.pid);
    const { requests, perSecond } = await wrk(url, seconds);
    const cpu = (cpuTicks(child.pid) - before) * TICK_NS / requests / 1000;
    const load = Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
    console.log(
      `${name} round ${round}: ${perSecond} req/s, ${
        cpu.toFixed(1)
      } µs CPU per request, load ${load}`,
    );
  }
  child.kill("SIGKILL");
  await child.status;
}
