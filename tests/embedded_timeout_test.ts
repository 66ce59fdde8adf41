/**
 * Embedded mode (`processes: 0`) and requestTimeout: Python runs on the
 * server's own thread, which cannot interrupt itself, so a watchdog Web
 * Worker raises KeyboardInterrupt through Pyodide's interrupt flag. This is
 * what keeps `deno serve --parallel` with embedded groups (the throughput
 * mode) safe from a runaway request.
 */

import assert from "node:assert/strict";
import { appPath, collectLogs, serveGroup } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("groups_app.wsgi");

async function timedGet(
  url: string,
): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  const response = await fetch(url);
  const body = await response.text();
  return { status: response.status, body, ms: performance.now() - started };
}

Deno.test({
  name:
    "embedded: requestTimeout ends a Python loop and a time.sleep() with 504 and KeyboardInterrupt in the log; the same interpreter serves on",
  ...options,
  fn: async () => {
    const logs = collectLogs();
    const { base, group, close } = await serveGroup("embedded-timeout", {
      processes: 0,
      requestTimeout: 1,
    }, [["/e", app]]);
    try {
      const id = (await timedGet(`${base}/e/id`)).body;
      const loop = await timedGet(`${base}/e/loop`);
      assert.equal(loop.status, 504);
      assert.ok(loop.ms >= 900 && loop.ms < 2500, `loop: ${loop.ms} ms`);
      const sleeping = await timedGet(`${base}/e/sleep?s=30`);
      assert.equal(sleeping.status, 504);
      assert.ok(sleeping.ms < 2500, `sleep: ${sleeping.ms} ms`);
      // No interrupt left over for the next request, in the same interpreter.
      for (let i = 0; i < 3; i++) {
        const next = await timedGet(`${base}/e/id`);
        assert.equal(next.status, 200);
        assert.equal(next.body, id);
      }
      const quick = await timedGet(`${base}/e/sleep?s=0.2`);
      assert.equal(
        quick.status,
        200,
        "a request under the limit is left alone",
      );
      assert.equal(group.metrics().timeouts, 2);
      const text = logs.text();
      assert.match(text, /KeyboardInterrupt/);
      assert.match(text, /requestTimeout \(1 s\); Python was interrupted/);
    } finally {
      logs.stop();
      await close();
    }
  },
});
