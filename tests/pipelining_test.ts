/**
 * Pipelining: a busy worker is handed the next requests ahead of time, so
 * that it goes straight on to them. These tests make sure that costs no
 * request its fairness: requests stuck behind a slow one move to a worker
 * that falls idle, a request handed ahead still times out in the queue
 * (threads and child processes alike, while Python keeps the worker busy),
 * and a request that never started is run elsewhere when its worker dies.
 */

import assert from "node:assert/strict";
import { appPath, serveGroup, waitFor } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("groups_app.wsgi");

async function timedGet(
  url: string,
  started: number,
  init?: RequestInit,
): Promise<{ status: number; body: string; ms: number }> {
  const response = await fetch(url, init);
  const body = await response.text();
  return { status: response.status, body, ms: performance.now() - started };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test({
  name:
    "pipelining: quick requests handed to a worker behind a slow one move to a worker that falls idle",
  ...options,
  fn: async () => {
    const { base, group, close } = await serveGroup("pipe-steal", {
      processes: 2,
    }, [["/p", app]]);
    try {
      const started = performance.now();
      const slow = timedGet(`${base}/p/sleep?s=3`, started);
      await sleep(150);
      const quick = await Promise.all(
        Array.from({ length: 8 }, () => timedGet(`${base}/p/id`, started)),
      );
      assert.deepEqual(quick.map((r) => r.status), Array(8).fill(200));
      const late = quick.filter((r) => r.ms > 2000);
      assert.equal(
        late.length,
        0,
        `requests waited for the slow one: ${JSON.stringify(quick)}`,
      );
      const done = await slow;
      assert.equal(done.status, 200);
      assert.ok(done.ms >= 2900, `the slow request took ${done.ms} ms`);
      const metrics = group.metrics();
      assert.equal(metrics.requests, 9);
      assert.equal(metrics.starts, 2);
      assert.equal(metrics.queueLength, 0);
      // The worker of the slow request skips those taken from it, then idles.
      await waitFor(() => group.metrics().workers.idle === 2, 2000, "idle");
    } finally {
      await close();
    }
  },
});

for (const isolation of ["thread", "process"] as const) {
  Deno.test({
    name:
      `pipelining (${isolation}): a request handed ahead to a busy worker still ends with 503 after queueTimeout, while Python sleeps`,
    ...options,
    fn: async () => {
      const { base, group, close } = await serveGroup(`pipe-qt-${isolation}`, {
        processes: 1,
        isolation,
        queueTimeout: 0.5,
      }, [["/p", app]]);
      try {
        const started = performance.now();
        const slow = timedGet(`${base}/p/sleep?s=2.5`, started);
        await sleep(200);
        const waiting = await timedGet(`${base}/p/id`, performance.now());
        assert.equal(waiting.status, 503);
        assert.ok(
          waiting.ms >= 450 && waiting.ms < 1500,
          `answered after ${waiting.ms} ms`,
        );
        assert.equal(group.metrics().queueTimeouts, 1);
        assert.equal((await slow).status, 200);
        // The worker skipped the request it was given back, and serves on.
        const after = await timedGet(`${base}/p/id`, performance.now());
        assert.equal(after.status, 200);
        assert.equal(
          group.metrics().requests,
          2,
          "the skipped request never ran",
        );
        await waitFor(() => group.metrics().workers.idle === 1, 2000, "idle");
      } finally {
        await close();
      }
    },
  });
}

Deno.test({
  name:
    "pipelining: when a worker crashes, the requests handed to it ahead of time run on its replacement",
  ...options,
  fn: async () => {
    const crash = appPath("groups_crash.wsgi");
    const { base, group, close } = await serveGroup("pipe-crash", {
      processes: 1,
    }, [["/p", app], ["/c", crash]]);
    try {
      const started = performance.now();
      // A streamed body (over 256 KiB) lets the crash happen mid-request.
      const crashing = timedGet(`${base}/c/crash`, started, {
        method: "POST",
        body: new Uint8Array(300 * 1024),
      });
      await sleep(150);
      const behind = await Promise.all(
        Array.from({ length: 3 }, () => timedGet(`${base}/p/id`, started)),
      );
      assert.equal((await crashing).status, 502);
      assert.deepEqual(behind.map((r) => r.status), [200, 200, 200]);
      assert.equal(group.metrics().crashes, 1);
    } finally {
      await close();
    }
  },
});
