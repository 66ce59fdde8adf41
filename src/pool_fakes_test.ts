/**
 * Not a test: what the pool's unit tests share. A pool of fake workers
 * whose requests answer when the test says so (no Pyodide, no server, so
 * each test runs in milliseconds plus the waits it measures), and the
 * steps those tests take. Named `_test.ts` so that, like the tests, it is
 * left out of the published package and of the layers (layers_test.ts).
 */

import assert from "node:assert/strict";
import type { GroupOptions, MountSpec } from "./config.ts";
import { resolveGroupOptions } from "./group_options.ts";
import { configureLogging } from "./logging.ts";
import { type Exchange, GatewayError, Pool } from "./pools.ts";
import type { RecycleCause, ResponseHead } from "./protocol.ts";
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
export class FakeWorker implements PythonWorker {
  readonly ready: Promise<void>;
  onStop?: (reason: string) => void;
  onDropped?: (id: number) => void;
  onRecycle?: (reason: string, cause: RecycleCause) => void;
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
export function pool(
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

export function request(group: Pool, body = NO_BODY): Promise<Exchange> {
  return group.handle(SPEC, "", () => Promise.resolve(body));
}

/** A request running on `worker` (answered) and one pipelined behind it. */
export async function runningAndBehind(
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
export function settle(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function rejectsWith(
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
export async function answer(
  started: Started,
  exchange: Promise<Exchange>,
): Promise<void> {
  started.answer();
  (await exchange).done();
}

/** Waits until `done()` holds (or `ms` passed); returns how long that took. */
export async function until(done: () => boolean, ms = 2000): Promise<number> {
  const start = performance.now();
  while (!done() && performance.now() - start < ms) await settle(5);
  return performance.now() - start;
}

/** Readiness the test controls: the first `at once` workers start at once. */
export function heldAfter(atOnce: number) {
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
export async function answered(
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
