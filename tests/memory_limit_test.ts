/**
 * memoryLimit and MemoryError, with real Pyodide workers over loopback: a
 * leaking worker is recycled once its heap passes the limit, without a
 * failed request; a worker whose request raised MemoryError is recycled.
 */

import assert from "node:assert/strict";
import { appPath, collectLogs, serveGroup, waitFor } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("memory_app.wsgi");
const MIB = 1024 * 1024;

async function get(url: string): Promise<[number, string]> {
  const response = await fetch(url);
  return [response.status, await response.text()];
}

Deno.test(
  "memoryLimit: a leaking worker is recycled after its request, no request fails",
  options,
  async () => {
    const logs = collectLogs();
    const server = await serveGroup(
      "memory-leak",
      { processes: 1, memoryLimit: 100 * MIB },
      [["/m", app]],
    );
    try {
      const tokens = new Set<string>();
      // Requests to /id run beside the leaking ones, across the recycles.
      let polling = true;
      const polled: number[] = [];
      const poller = (async () => {
        while (polling) polled.push((await get(`${server.base}/m/id`))[0]);
      })();
      for (let i = 0; i < 6; i++) {
        const [status, body] = await get(`${server.base}/m/leak`);
        assert.equal(status, 200, body);
        tokens.add(body.split(" ")[0]);
      }
      polling = false;
      await poller;
      assert.ok(
        polled.length > 0 && polled.every((s) => s === 200),
        `${polled}`,
      );
      // 50 MiB a request on a heap that starts at 30-40 MiB: past 128 MiB
      // after the second request of each worker.
      assert.ok(tokens.size >= 3, `${tokens.size} workers served the leaks`);
      const metrics = server.group.metrics();
      assert.ok(metrics.memoryRecycles >= 2, `${metrics.memoryRecycles}`);
      assert.equal(metrics.crashes, 0);
      assert.match(
        logs.text(),
        /\[warn\].*heap of \d+\.\d MiB passed memoryLimit \(100\.0 MiB\)/,
      );
    } finally {
      logs.stop();
      await server.close();
    }
  },
);

for (const processes of [1, 0]) {
  Deno.test(
    `MemoryError recycles the worker without a limit (processes: ${processes})`,
    options,
    async () => {
      const logs = collectLogs();
      const server = await serveGroup(
        `memory-error-${processes}`,
        { processes },
        [["/m", app]],
      );
      try {
        let [, before] = await get(`${server.base}/m/id`);
        for (
          const [route, recycles] of [["oom", 1], ["oom-caught", 2]] as const
        ) {
          const [status] = await get(`${server.base}/m/${route}`);
          assert.equal(status, 500);
          await waitFor(
            () => server.group.metrics().memoryRecycles === recycles,
            5000,
            `the recycle after /${route}`,
          );
          const [again, after] = await get(`${server.base}/m/id`);
          assert.equal(again, 200);
          assert.notEqual(after, before, `a new worker after /${route}`);
          before = after;
        }
        assert.equal(server.group.metrics().crashes, 0);
        const text = logs.text();
        assert.match(text, /Traceback[\s\S]*MemoryError: cannot allocate/);
        assert.match(text, /\[warn\].*a request raised MemoryError/);
      } finally {
        logs.stop();
        await server.close();
      }
    },
  );
}

Deno.test("memoryLimit is validated, naming the option", () => {
  return import("../mod.ts").then(({ defineGroup }) => {
    assert.throws(
      () => defineGroup("memory-bad", { memoryLimit: 1024 }),
      (error: Error) =>
        error instanceof RangeError && /"memoryLimit"/.test(error.message),
    );
    assert.throws(
      () => defineGroup("memory-bad2", { memoryLimit: "1G" as never }),
      (error: Error) =>
        error instanceof TypeError && /"memoryLimit"/.test(error.message),
    );
  });
});
