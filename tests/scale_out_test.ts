/**
 * Graceful scale-out: two `start-server` instances behind Debian's nginx,
 * a client sending requests all the while, and each instance stopped
 * with SIGTERM and started again in turn. Not one request may fail.
 *
 * @module
 */

import assert from "node:assert/strict";
import { appPath, type RunningServer, startServerCommand } from "./helpers.ts";
import { freePort, startNginxUpstream } from "./servers.ts";

const APP = appPath("connections_app.wsgi");

function startInstance(name: string, port: number): Promise<RunningServer> {
  return startServerCommand([
    APP,
    ...["--host", "127.0.0.1", "--port", String(port)],
    ...["--setenv", "INSTANCE", name],
    ...["--ready-path", "/-/ready", "--live-path", "/-/live"],
  ]);
}

interface Tally {
  ok: number;
  failed: string[];
  by: Map<string, number>;
}

/** `workers` clients in a loop until `running()` is false; every outcome counted. */
async function load(
  url: string,
  workers: number,
  running: () => boolean,
): Promise<Tally> {
  const tally: Tally = { ok: 0, failed: [], by: new Map() };
  let n = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (running()) {
        // Every tenth request is in flight for a while, so that a stop
        // finds some to finish.
        const path = n++ % 10 === 0 ? "/sleep?0.3" : "/";
        try {
          const response = await fetch(url + path, {
            signal: AbortSignal.timeout(30_000),
          });
          const text = await response.text();
          if (response.status === 200 && text.startsWith("hello from ")) {
            tally.ok++;
            const who = text.trim().slice("hello from ".length);
            tally.by.set(who, (tally.by.get(who) ?? 0) + 1);
          } else {
            tally.failed.push(`${response.status} ${text.slice(0, 80)}`);
          }
        } catch (error) {
          tally.failed.push((error as Error).message);
        }
      }
    }),
  );
  return tally;
}

Deno.test("two start-server instances behind nginx, each stopped with SIGTERM and started again under load: no failed request, exit code 0", async () => {
  const ports = [freePort(), freePort()];
  const instances: (RunningServer | undefined)[] = await Promise.all([
    startInstance("a", ports[0]),
    startInstance("b", ports[1]),
  ]);
  const nginx = await startNginxUpstream(ports);
  let running = true;
  const loading = load(nginx.url, 8, () => running);
  const pause = (ms: number) =>
    new Promise((resolve) => setTimeout(resolve, ms));
  try {
    for (const [index, name] of [[0, "a"], [1, "b"]] as const) {
      await pause(1500);
      const instance = instances[index]!;
      const ready = await fetch(`http://127.0.0.1:${ports[index]}/-/ready`);
      assert.equal(ready.status, 200);
      await ready.body?.cancel();
      const status = await instance.stop("SIGTERM");
      instances[index] = undefined;
      assert.equal(status.code, 0, instance.output());
      assert.match(instance.output(), /SIGTERM: finishing requests/);
      instances[index] = await startInstance(name, ports[index]);
    }
    await pause(1500);
  } finally {
    running = false;
    const tally = await loading;
    await nginx.stop();
    for (const instance of instances) await instance?.stop("SIGKILL");
    const summary = `${tally.ok} answered (${
      [...tally.by].map(([who, count]) => `${who}: ${count}`).join(", ")
    }), ${tally.failed.length} failed: ${tally.failed.slice(0, 5).join("; ")}`;
    console.log(summary);
    assert.equal(tally.failed.length, 0, summary);
    assert.ok(tally.ok > 100, summary);
    assert.ok((tally.by.get("a") ?? 0) > 0 && (tally.by.get("b") ?? 0) > 0);
  }
});
