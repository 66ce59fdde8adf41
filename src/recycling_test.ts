/**
 * The pool's recycling with fake workers: maximumRequests, a worker that
 * asks (memoryLimit, MemoryError), restartInterval, cpuTimeLimit and
 * inactivityTimeout.
 */

import assert from "node:assert/strict";
import type { Exchange, Pool } from "./pools.ts";
import {
  answer,
  answered,
  type FakeWorker,
  heldAfter,
  pool,
  request,
  settle,
  until,
} from "./pool_fakes_test.ts";

/**
 * Answers the first worker's request `busy`, then checks that the worker
 * was recycled after it and that its successor serves, with one restart
 * and no crash.
 */
async function recycledAfter(
  group: Pool,
  workers: FakeWorker[],
  busy: Promise<Exchange>,
): Promise<void> {
  await answer(workers[0].started[0], busy);
  await settle();
  assert.ok(workers[0].stopped, "recycled once its request was done");
  assert.equal(await answered(group, workers), 1, "the successor serves");
  const metrics = group.metrics();
  assert.equal(metrics.restarts, 1);
  assert.equal(metrics.crashes, 0);
}

Deno.test("pool: a worker is recycled at maximumRequests", async () => {
  const { group, workers } = pool({ processes: 1, maximumRequests: 2 });
  await group.ready();
  // The successor starts while the second request runs (see below).
  for (let i = 0; i < 3; i++) await answered(group, workers);
  assert.equal(workers.length, 2, "a second worker took over");
  assert.equal(workers[0].started.length, 2);
  assert.ok(workers[0].stopped);
  assert.equal(workers[1].started.length, 1);
  assert.equal(group.metrics().restarts, 1);
  await group.shutdown();
});

Deno.test("pool: at maximumRequests, the successor starts while the last request runs", async () => {
  const { held, ready } = heldAfter(1);
  const { group, workers } = pool({ processes: 1, maximumRequests: 2 }, {
    ready,
  });
  await group.ready();
  assert.equal(await answered(group, workers), 0);
  const last = request(group);
  await settle();
  assert.equal(workers[0].started.length, 2);
  assert.equal(workers.length, 2, "the successor started ahead");
  held.shift()!();
  await settle();
  workers[0].started[1].answer();
  (await last).done();
  await settle();
  assert.ok(workers[0].stopped, "recycled after its last request");
  assert.equal(await answered(group, workers), 1, "the successor serves");
  assert.equal(group.metrics().restarts, 1);
  assert.equal(workers.length, 2, "no third worker");
  await group.shutdown();
});

Deno.test("pool: a worker that asks to be recycled (memoryLimit, MemoryError) stops after its request; none fails", async () => {
  const { group, workers } = pool({ processes: 1 });
  await group.ready();
  const first = request(group);
  await settle();
  // As channel_worker.ts does: the recycle comes before the answer.
  workers[0].onRecycle?.(
    "its heap of 300 MiB passed memoryLimit (256 MiB)",
    "memory",
  );
  await settle();
  assert.equal(workers.length, 2, "the successor starts at once");
  assert.equal(workers[0].stopped, false, "not before its request is done");
  await recycledAfter(group, workers, first);
  assert.equal(group.metrics().memoryRecycles, 1);
  // An idle worker that asks is recycled at once.
  workers[1].onRecycle?.(
    "a request raised MemoryError (heap 40.0 MiB)",
    "memory",
  );
  await settle();
  assert.ok(workers[1].stopped);
  assert.equal(group.metrics().memoryRecycles, 2);
  await group.shutdown();
});

Deno.test("pool: a worker is recycled once it has served restartInterval, after its request; none fails", async () => {
  const { group, workers } = pool({ processes: 1, restartInterval: 0.3 });
  await group.ready();
  const busy = request(group);
  await settle();
  const started = performance.now();
  await until(() => workers.length === 2);
  const waited = performance.now() - started;
  assert.ok(waited >= 250, `the successor started after ${waited} ms`);
  assert.equal(workers[0].stopped, false, "not during its request");
  await recycledAfter(group, workers, busy);
  assert.equal(group.metrics().memoryRecycles, 0);
  // An idle worker goes at once when its time comes.
  await until(() => workers[1].stopped);
  assert.equal(workers.length, 3, "and is replaced");
  await group.shutdown();
});

Deno.test("pool: a worker whose thread used cpuTimeLimit is recycled once its request is done, not counted as a memory recycle", async () => {
  const { group, workers } = pool({ processes: 1, cpuTimeLimit: 2 });
  await group.ready();
  const last = request(group);
  await settle();
  // As worker_main.ts does: the recycle comes before the answer.
  workers[0].onRecycle?.("cpuTimeLimit (2 s) reached: 2.1 s of CPU", "cpu");
  await settle();
  assert.equal(workers.length, 2, "the successor starts at once");
  assert.equal(workers[0].stopped, false, "not during its request");
  await recycledAfter(group, workers, last);
  assert.equal(group.metrics().memoryRecycles, 0);
  await group.shutdown();
});

Deno.test("pool: an idle worker stops after inactivityTimeout, a request brings one back", async () => {
  const { group, workers } = pool({ processes: 1, inactivityTimeout: 0.3 });
  await group.ready();
  const first = request(group);
  await settle();
  await answer(workers[0].started[0], first);
  const idle = performance.now();
  await settle(40);
  assert.equal(workers[0].stopped, false, "not before inactivityTimeout");
  await until(() => workers[0].stopped);
  const waited = performance.now() - idle;
  assert.ok(workers[0].stopped, "stopped when idle");
  assert.ok(waited >= 250, `stopped after ${waited} ms`);
  assert.deepEqual(group.metrics().workers, { idle: 0, busy: 0, starting: 0 });
  assert.equal(workers.length, 1, "not replaced while nothing waits");
  const second = request(group);
  await settle();
  assert.equal(workers.length, 2, "started on demand");
  await answer(workers[1].started[0], second);
  assert.equal(group.metrics().crashes, 0);
  await group.shutdown();
});
