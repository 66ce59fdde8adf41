/**
 * Memory of a worker: the RSS of a server of the hello app with 1, 2 and 3
 * workers (one thread each), once every worker is ready and has answered,
 * with and without a warm snapshot, for Web Workers and for `isolation:
 * "process"`. "this worker" is the difference between N and N-1 workers.
 * RSS sums the server and its worker processes; peak is VmHWM, summed the
 * same way. The smallest of `--rounds` runs is shown.
 *
 * Run: deno task bench:memory [--rounds 2]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { processTree } from "./measure.ts";
import { ROOT } from "./servers.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: {
    rounds: { type: "string", default: "2" },
    isolation: { type: "string", default: "thread,process" },
  },
});
const rounds = Number(values.rounds);

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** VmRSS and VmHWM of a process and its descendants, summed, in MiB. */
function memoryOf(pid: number): { rss: number; peak: number } {
  let rss = 0;
  let peak = 0;
  for (const member of processTree(pid)) {
    try {
      const status = Deno.readTextFileSync(`/proc/${member}/status`);
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      peak += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return { rss: rss / 1024, peak: peak / 1024 };
}

const PROGRAM = `
import { createRouter, defineGroup, mountWsgi } from "${ROOT}mod.ts";
const [port, processes, isolation, snapshots] = Deno.args;
const group = defineGroup("memory", {
  processes: Number(processes),
  isolation: isolation as "thread" | "process",
  threads: 1,
  snapshot: snapshots === "off" ? false : { folder: snapshots },
});
const router = createRouter();
mountWsgi(router, "/", "${ROOT}examples/hello/app.wsgi", { group });
await group.ready();
Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen() {} }, router.fetch);
console.log("ready");
`;

async function measure(
  program: string,
  processes: number,
  isolation: string,
  snapshots: string,
): Promise<{ rss: number; peak: number }> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      program,
      String(port),
      String(processes),
      isolation,
      snapshots,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the server ended before it was ready");
      text += value;
    }
    reader.releaseLock();
    // Every worker answers once (sequential requests go to idle workers).
    await Promise.all(
      Array.from({ length: processes * 2 }, async () => {
        const response = await fetch(`http://127.0.0.1:${port}/`);
        await response.body?.cancel();
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return memoryOf(child.pid);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

const folder = await Deno.makeTempDir({ prefix: "worker-memory-" });
const program = `${folder}/server.ts`;
await Deno.writeTextFile(program, PROGRAM);
const snapshots = `${folder}/snapshots`;
await Deno.mkdir(snapshots);
// The first run makes the snapshot; it is not counted.
await measure(program, 1, "thread", snapshots);
const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3);
console.log(`load average ${load.join(" ")}`);
console.log(
  "| isolation | snapshot | workers | RSS MiB | peak MiB | this worker MiB |",
);
console.log("| --- | --- | ---: | ---: | ---: | ---: |");
for (const isolation of values.isolation.split(",")) {
  for (const mode of ["off", "warm"]) {
    let previous = 0;
    for (const processes of [1, 2, 3]) {
      const rss: number[] = [];
      const peak: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const m = await measure(
          program,
          processes,
          isolation,
          mode === "off" ? "off" : snapshots,
        );
        rss.push(m.rss);
        peak.push(m.peak);
      }
      const low = Math.min(...rss);
      console.log(
        `| ${isolation} | ${mode} | ${processes} | ${low.toFixed(0)} | ${
          Math.min(...peak).toFixed(0)
        } | ${(low - previous).toFixed(0)} |`,
      );
      previous = low;
    }
  }
}
await Deno.remove(folder, { recursive: true });
