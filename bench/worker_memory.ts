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

import { freePort } from "../tests/servers.ts";
import { loadAverage, treeMemory } from "./measure.ts";
import { parseOptions } from "./options.ts";
import { launchServer, ROOT } from "./servers.ts";

const options = parseOptions(
  "Usage: npx -y deno@2.9.6 task bench:memory -- [options]",
  {
    rounds: ["2", "runs per row; the smallest is shown"],
    isolation: ["thread,process", "the isolations measured"],
  },
);
const rounds = options.whole("rounds");

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
`;

/** VmRSS and VmHWM of the server's process tree, in MiB. */
async function measure(
  processes: number,
  isolation: string,
  snapshots: string,
): Promise<{ rss: number; peak: number }> {
  const port = freePort();
  const server = await launchServer("memory", {
    command: Deno.execPath(),
    // Web Workers (`isolation: "thread"`) are sandboxed through Deno's
    // worker permissions, which need the flag.
    args: ["run", "-A", "--unstable-worker-options", program, String(port)]
      .concat(String(processes), isolation, snapshots),
  }, { port, readyPath: "/" });
  try {
    // Every worker answers once (sequential requests go to idle workers).
    await Promise.all(
      Array.from({ length: processes * 2 }, async () => {
        await (await fetch(`${server.baseUrl}/`)).body?.cancel();
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const { rssBytes, hwmBytes } = treeMemory(server.pid);
    return { rss: rssBytes / 1024 / 1024, peak: hwmBytes / 1024 / 1024 };
  } finally {
    await server.stop();
  }
}

const folder = await Deno.makeTempDir({ prefix: "worker-memory-" });
const program = `${folder}/server.ts`;
await Deno.writeTextFile(program, PROGRAM);
const snapshots = `${folder}/snapshots`;
await Deno.mkdir(snapshots);
// The first run makes the snapshot; it is not counted.
await measure(1, "thread", snapshots);
console.log(`load average ${loadAverage()}`);
console.log(
  "| isolation | snapshot | workers | RSS MiB | peak MiB | this worker MiB |",
);
console.log("| --- | --- | ---: | ---: | ---: | ---: |");
for (const isolation of options.list("isolation")) {
  for (const mode of ["off", "warm"]) {
    let previous = 0;
    for (const processes of [1, 2, 3]) {
      const rss: number[] = [];
      const peak: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const m = await measure(
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
