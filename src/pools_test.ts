/**
 * The pool's scheduling, driven by fake workers: no Pyodide, no server, so
 * each test runs in milliseconds (plus the waits it measures).
 */

import assert from "node:assert/strict";
import type { GroupOptions, MountSpec } from "./config.ts";
import { resolveGroupOptions } from "./group_options.ts";
import { configureLogging } from "./logging.ts";
import { type Exchange, GatewayError, Pool } from "./pools.ts";
import { STEAL_AFTER_MS } from "./pipelining.ts";
import type { ResponseHead } from "./protocol.ts";
import type { RequestBody } from "./request_body.ts";
import {
  type PythonWorker,
  WorkerFailure,
  type WorkerRequest,
} from "./worker.ts";

configureLogging({ level: "error", sink: () => {} });

const HEAD: ResponseHead = {
  status: 200,
  statusText: "OK",
  headers: [],
  done: false,
};

/** What a worker is given; the fake only looks at whether it is pipelined. */
type StartArguments = Parameters<PythonWorker["start"]>;

interface Started {
  id: number;
  pipelined: boolean;
  answer(): void;
  fail(failure: WorkerFailure): void;
}

/** A worker whose requests answer when the test says so. */
class FakeWorker implements PythonWorker {
  readonly ready: Promise<void>;
  onStop?: (reason: string) => void;
  onDropped?: (id: number) => void;
  onRecycle?: (reason: string) => void;
  readonly started: Started[] = [];
  readonly cancelled = new Set<number>();
  stopped = false;
  #running = new Set<number>();

  constructor(readonly name: string, ready = Promise.resolve()) {
    this.ready = ready;
  }

  load(): void {}

  start(...[, , , pipelined = false]: StartArguments): WorkerRequest {
    const id = this.started.length;
    let answer!: () => void;
    let fail!: (failure: WorkerFailure) => void;
    const head = new Promise<ResponseHead>((resolve, reject) => {
      answer = () => {
        this.#running.add(id);
        resolve(HEAD);
      };
      fail = reject;
    });
    this.started.push({ id, pipelined, answer, fail });
    return { id, head };
  }

  next(): Promise<{ chunk?: Uint8Array; done: boolean }> {
    return Promise.resolve({ done: true });
  }

  close(): void {}

  cancel(id: number): Promise<boolean> {
    if (this.#running.has(id)) return Promise.resolve(false);
    this.cancelled.add(id);
    queueMicrotask(() => this.onDropped?.(id));
    return Promise.resolve(true);
  }

  interrupt(): void {}
  abort(): void {}

  stop(): void {
    this.stopped = true;
  }

  /** Dies on its own: the running request fails, the others retry. */
  crash(): void {
    for (const request of this.started) {
      request.fail(
        this.#running.has(request.id)
          ? new WorkerFailure(502, "crashed")
          : new WorkerFailure(503, "crashed", true),
      );
    }
    this.onStop?.("crashed on purpose");
  }
}

const SPEC: MountSpec = {
  id: "m1",
  prefix: "/app",
  scriptPath: "/srv/app.wsgi",
  callable: "application",
  applicationGroup: "",
  pythonPath: [],
  group: "test",
  multiprocess: false,
  multithread: false,
};

/**
 * A pool of fake workers; `workers` lists them in the order they started,
 * each ready when `ready()` says (at once by default).
 */
function pool(
  options: GroupOptions,
  { ready = () => Promise.resolve() }: { ready?: () => Promise<void> } = {},
): { group: Pool; workers: FakeWorker[]; starts: number[] } {
  const workers: FakeWorker[] = [];
  const starts: number[] = [];
  const group = new Pool(
    resolveGroupOptions("test", options),
    () => {
      const worker = new FakeWorker(`worker ${workers.length}`, ready());
      workers.push(worker);
      starts.push(performance.now());
      return { python: worker };
    },
  );
  group.attach(SPEC);
  return { group, workers, starts };
}

const NO_BODY: RequestBody = { kind: "none" };

function streamBody(): RequestBody {
  return {
    kind: "stream",
    reader: new ReadableStream<Uint8Array>().getReader(),
  };
}

function request(group: Pool, body = NO_BODY): Promise<Exchange> {
  return group.handle(SPEC, "", () => Promise.resolve(body));
}

/** A request running on `worker` (answered) and one pipelined behind it. */
async function runningAndBehind(
  group: Pool,
  worker: FakeWorker,
): Promise<{ exchange: Exchange; behind: Promise<Exchange> }> {
  const running = request(group);
  await settle();
  worker.started[0].answer();
  const exchange = await running;
  const behind = request(group);
  await settle();
  assert.equal(worker.started.at(-1)?.pipelined, true, "pipelined behind it");
  return { exchange, behind };
}

/** Lets queued microtasks and timers of 0 ms run. */
function settle(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function rejectsWith(
  promise: Promise<unknown>,
  status: number,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: Error) => {
    assert.ok(error instanceof GatewayError, String(error));
    assert.equal(error.status, status);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/** Answers a started request and ends its exchange. */
async function answer(
  started: Started,
  exchange: Promise<Exchange>,
): Promise<void> {
  started.answer();
  (await exchange).done();
}

/**
 * A pool of one worker, busy with a request whose body streams (such a
 * request waits for an idle worker: nothing is pipelined behind it).
 */
async function busy(options: GroupOptions) {
  const made = pool({ processes: 1, ...options });
  await made.group.ready();
  const first = request(made.group, streamBody());
  await settle();
  return { ...made, first };
}

/** Waits until `done()` holds (or `ms` passed); returns how long that took. */
async function until(done: () => boolean, ms = 2000): Promise<number> {
  const start = performance.now();
  while (!done() && performance.now() - start < ms) await settle(5);
  return performance.now() - start;
}

Deno.test("pool: a full queue answers 503 at once", async () => {
  const { group, workers, first } = await busy({ queueLimit: 1 });
  const waiting = request(group, streamBody());
  await rejectsWith(request(group, streamBody()), 503, /queue full/);
  assert.equal(group.metrics().rejected, 1);
  await answer(workers[0].started[0], first);
  await settle();
  await answer(workers[0].started[1], waiting);
  await group.shutdown();
});

Deno.test("pool: queueTimeout answers 503 after the wait", async () => {
  const { group, workers, first } = await busy({ queueTimeout: 0.1 });
  const started = performance.now();
  await rejectsWith(request(group, streamBody()), 503, /queue timeout/);
  const waited = performance.now() - started;
  assert.ok(waited >= 90 && waited < 1000, `waited ${waited} ms`);
  assert.equal(group.metrics().queueTimeouts, 1);
  await answer(workers[0].started[0], first);
  await group.shutdown();
});

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

Deno.test("pool: requests pipelined behind a crash run on the replacement", async () => {
  const { group, workers } = pool({ processes: 1 });
  await group.ready();
  const { exchange, behind } = await runningAndBehind(group, workers[0]);
  assert.equal(workers[0].started.length, 2);
  workers[0].crash();
  exchange.done();
  await settle(20);
  assert.equal(workers.length, 2, "a replacement started");
  await settle();
  assert.equal(workers[1].started.length, 1, "the pipelined request moved");
  await answer(workers[1].started[0], behind);
  await group.shutdown();
});

Deno.test("pool: requests behind a slow one move to a worker that falls idle, after 50 ms", async () => {
  const { group, workers } = pool({ processes: 2 });
  await group.ready();
  // The workers' requests start after this: nothing may move for 50 ms.
  const began = performance.now();
  const slow = request(group);
  const quick = request(group);
  await settle();
  const [a, b] = workers;
  a.started[0].answer();
  b.started[0].answer();
  const slowExchange = await slow;
  const quickExchange = await quick;
  // Both busy: the next one is pipelined behind one of them.
  const behind = request(group);
  await settle();
  const holder = a.started.length === 2 ? a : b;
  const other = holder === a ? b : a;
  const holderExchange = holder === a ? slowExchange : quickExchange;
  const otherExchange = holder === a ? quickExchange : slowExchange;
  assert.equal(holder.started[1].pipelined, true);
  otherExchange.done();
  await settle(10);
  // On a loaded machine 50 ms may be over already; only check while not.
  if (performance.now() - began < STEAL_AFTER_MS - 5) {
    assert.equal(other.started.length, 1, "not moved before 50 ms");
  }
  await until(() => other.started.length === 2);
  const moved = performance.now() - began;
  assert.equal(holder.cancelled.size, 1, "taken back from the busy worker");
  assert.equal(other.started.length, 2, "run by the idle one");
  assert.ok(moved >= STEAL_AFTER_MS, `moved after ${moved} ms`);
  await answer(other.started[1], behind);
  holderExchange.done();
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

/** Readiness the test controls: the first `at once` workers start at once. */
function heldAfter(atOnce: number) {
  const held: (() => void)[] = [];
  let started = 0;
  return {
    held,
    ready: () =>
      started++ < atOnce
        ? Promise.resolve()
        : new Promise<void>((resolve) => held.push(resolve)),
  };
}

/** Answers a request at once on whichever worker got it; returns that worker's index. */
async function answered(
  group: Pool,
  workers: FakeWorker[],
): Promise<number> {
  const counts = workers.map((w) => w.started.length);
  const answer = request(group);
  await settle();
  const index = workers.findIndex((w, i) => w.started.length > counts[i]);
  assert.ok(index >= 0, "a worker took the request");
  workers[index].started.at(-1)!.answer();
  (await answer).done();
  await settle();
  return index;
}

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
  workers[0].onRecycle?.("its heap of 300 MiB passed memoryLimit (256 MiB)");
  await settle();
  assert.equal(workers.length, 2, "the successor starts at once");
  assert.equal(workers[0].stopped, false, "not before its request is done");
  workers[0].started[0].answer();
  (await first).done();
  await settle();
  assert.ok(workers[0].stopped, "recycled once its request was done");
  assert.equal(await answered(group, workers), 1);
  const metrics = group.metrics();
  assert.equal(metrics.memoryRecycles, 1);
  assert.equal(metrics.restarts, 1);
  assert.equal(metrics.crashes, 0);
  // An idle worker that asks is recycled at once.
  workers[1].onRecycle?.("a request raised MemoryError (heap 40.0 MiB)");
  await settle();
  assert.ok(workers[1].stopped);
  assert.equal(group.metrics().memoryRecycles, 2);
  await group.shutdown();
});
