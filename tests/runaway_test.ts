/**
 * Runaway Python: a computation in C that never checks for interrupts
 * (`sum(range(10**11))`) gets its 504 at requestTimeout, and its CPU is
 * freed: the worker process is killed, so the CPU time of the server's
 * whole process tree stays flat afterwards. Only where that holds: the
 * default process isolation. A Web Worker survives terminate() in
 * WebAssembly, and embedded mode runs Python on the server's own thread
 * (README, "Stopping runaway Python").
 */

import assert from "node:assert/strict";
import { appPath, collectLogs, serveGroup, waitFor } from "./helpers.ts";
import { cpuOver, descendants } from "./process_tree.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("sandbox_app.wsgi");

Deno.test({
  name:
    "runaway (process, the default): sum(range(10**11)) gets 504 at requestTimeout, and the process tree's CPU stays flat for 3 s afterwards",
  ...options,
  fn: async () => {
    const logs = collectLogs();
    const { base, group, close } = await serveGroup("runaway-process", {
      requestTimeout: 1,
    }, [["/r", app]]);
    try {
      const started = performance.now();
      const spin = await fetch(`${base}/r/spin`);
      await spin.body?.cancel();
      const elapsed = performance.now() - started;
      assert.equal(spin.status, 504);
      assert.ok(elapsed < 3000, `answered after ${elapsed} ms`);
      await waitFor(
        () => group.metrics().workers.idle === 1,
        20000,
        "the replacement worker",
      );
      const hello = await fetch(`${base}/r/`);
      assert.equal(await hello.text(), "hello");
      // The replacement has started; give it a moment to settle.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const used = await cpuOver(3000);
      assert.ok(used < 450, `${used} ms of CPU in 3 s after the timeout`);
      assert.equal(group.metrics().timeouts, 1);
      assert.equal(group.metrics().stuck, 0);
    } finally {
      logs.stop();
      await close();
    }
    await waitFor(
      () => descendants().length === 0,
      3000,
      "the worker processes to be gone",
    );
  },
});
