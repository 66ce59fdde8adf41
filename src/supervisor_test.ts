/**
 * The pool's supervision with fake workers: back-off after crashes,
 * startupTimeout, and spare workers taking over.
 */

import assert from "node:assert/strict";
import {
  answered,
  heldAfter,
  pool,
  rejectsWith,
  request,
  runningAndBehind,
  settle,
  until,
} from "./pool_fakes_test.ts";

Deno.test("pool: workers that keep crashing are restarted with back-off", async () => {
  const { group, workers, starts } = pool({ processes: 1 });
  await group.ready();
  for (let crash = 0; crash < 3; crash++) {
    workers[workers.length - 1].crash();
    await settle(crash < 1 ? 20 : 700 * crash);
  }
  // The first restart is at once, then 0.5 s, then 1 s.
  assert.equal(workers.length, 4, `${workers.length} starts`);
  const gaps = starts.slice(1).map((at, i) => at - starts[i]);
  assert.ok(gaps[0] < 100, `first restart after ${gaps[0]} ms`);
  assert.ok(gaps[2] >= 450, `third restart after ${gaps[2]} ms`);
  assert.equal(group.metrics().crashes, 3);
  await group.shutdown();
});

Deno.test("pool: a worker that does not start within startupTimeout is replaced", async () => {
  const { group, workers } = pool({ processes: 1, startupTimeout: 0.5 }, {
    // The first never starts; its replacement does at once.
    ready: () =>
      workers.length === 0 ? new Promise(() => {}) : Promise.resolve(),
  });
  const started = performance.now();
  let readied = false;
  group.ready().then(() => readied = true);
  await settle(100);
  assert.equal(workers.length, 1);
  assert.equal(workers[0].stopped, false, "not before startupTimeout");
  assert.equal(readied, false, "ready() waits for the worker");
  await until(() => workers[0].stopped);
  const waited = performance.now() - started;
  assert.ok(workers[0].stopped, "stopped after startupTimeout");
  assert.ok(waited >= 450, `stopped after ${waited} ms`);
  // A stopped worker's own ready never settles: ready() must not hang.
  await until(() => readied);
  assert.ok(readied, "ready() settles once the worker is stopped");
  await until(() => group.metrics().workers.idle === 1);
  assert.equal(workers.length, 2, "a replacement started");
  assert.equal(group.metrics().crashes, 1);
  await group.shutdown();
});

Deno.test("pool: a spare worker takes over at once after a timeout, and a new spare starts", async () => {
  // Worker 0 serves, worker 1 is the spare; later starts never finish, so
  // only a spare that is already up can answer after the timeout.
  const { held, ready } = heldAfter(2);
  const { group, workers } = pool(
    { processes: 1, spareWorkers: 1, requestTimeout: 0.2 },
    { ready },
  );
  await group.ready();
  await until(() => workers.length === 2);
  await settle();
  assert.equal(workers.length, 2, "the spare started after the worker");
  assert.equal(group.metrics().spares, 1);
  assert.deepEqual(group.metrics().workers, { idle: 1, busy: 0, starting: 0 });
  // The spare is handed nothing while the worker serves.
  assert.equal(await answered(group, workers), 0);
  const stuck = request(group);
  await settle();
  await rejectsWith(stuck, 504);
  await settle();
  assert.equal(workers.length, 3, "a new spare is starting");
  assert.equal(workers[1].started.length, 0);
  const began = performance.now();
  assert.equal(await answered(group, workers), 1, "the spare answered");
  const waited = performance.now() - began;
  assert.ok(waited < 100, `answered after ${waited} ms`);
  const metrics = group.metrics();
  assert.equal(metrics.spareTakeovers, 1);
  assert.equal(metrics.timeouts, 1);
  assert.equal(metrics.spares, 1, "the new spare counts, starting");
  assert.deepEqual(metrics.workers, { idle: 1, busy: 0, starting: 0 });
  await until(() => workers[0].stopped);
  assert.ok(workers[0].stopped, "the timed-out worker stopped");
  // The new spare, once up, waits its turn too.
  held.shift()!();
  await settle();
  assert.equal(await answered(group, workers), 1);
  assert.equal(workers[2].started.length, 0);
  await group.shutdown();
});

Deno.test("pool: a spare worker takes over at once after a crash; requests pipelined there move to it", async () => {
  const { ready } = heldAfter(2);
  const { group, workers } = pool({ processes: 1, spareWorkers: 1 }, {
    ready,
  });
  await group.ready();
  await until(() => workers.length === 2);
  // Pipelined behind the busy worker, not handed to the idle spare.
  const { exchange, behind } = await runningAndBehind(group, workers[0]);
  workers[0].crash();
  exchange.done();
  await settle(20);
  assert.equal(workers[1].started.length, 1, "the spare runs it");
  workers[1].started[0].answer();
  (await behind).done();
  const metrics = group.metrics();
  assert.equal(metrics.crashes, 1);
  assert.equal(metrics.spareTakeovers, 1);
  assert.equal(workers.length, 3, "and a new spare starts");
  await group.shutdown();
});
