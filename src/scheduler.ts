/**
 * Which worker runs a request, and when: an idle worker, a free thread of a
 * busy one, a place in line behind a busy one (pipelining.ts), or the wait
 * queue (wait_queue.ts); and, when a request ends, what its worker does
 * next. Starting and stopping workers is supervisor.ts's.
 *
 * @module
 */

import type { GroupConfig } from "./config.ts";
import type { Counters } from "./metrics.ts";
import { pipelinedCount, pipelineTarget, stealFrom } from "./pipelining.ts";
import {
  lasting,
  type Lease,
  type Turn,
  type WorkerRecord,
} from "./records.ts";
import type { Supervisor } from "./supervisor.ts";
import { WaitQueue } from "./wait_queue.ts";
import { type Alarm, clearAlarm, setAlarm } from "./alarms.ts";
import { WorkerFailure } from "./worker.ts";

/** How a pipelined request's wait for its worker ended (see awaitTurn). */
export type TurnOutcome = "start" | "timeout" | "moved";

/** Hands a group's workers to its requests. */
export class Scheduler {
  readonly #config: GroupConfig;
  readonly #supervisor: Supervisor;
  readonly #counters: Counters;
  readonly #queue = new WaitQueue();
  #stealTimer?: ReturnType<typeof setTimeout>;

  constructor(
    config: GroupConfig,
    supervisor: Supervisor,
    options: { counters: Counters },
  ) {
    this.#config = config;
    this.#supervisor = supervisor;
    this.#counters = options.counters;
  }

  /** Requests in the wait queue. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Requests waiting for a worker: queued, or pipelined to a busy one. */
  get queueLength(): number {
    return this.#queue.length + this.#pipelined();
  }

  #pipelined(): number {
    return pipelinedCount(this.#supervisor.workers, this.#config.threads);
  }

  /** A busy worker to hand a request to ahead of time (see pipelining.ts). */
  #pipelineTarget(): WorkerRecord | undefined {
    if (
      this.#config.processes === 0 || this.#config.threads > 1 ||
      this.#pipelined() >= this.#config.queueLimit
    ) {
      return undefined;
    }
    return pipelineTarget(
      this.#supervisor.workers,
      this.#supervisor.generation,
      this.#config.maximumRequests,
    );
  }

  #pipeline(worker: WorkerRecord, deadline: number): Lease {
    worker.pending++;
    worker.served++;
    const turn = new Promise<Turn>((resolve) => worker.turns.push(resolve));
    return { worker, turn, deadline };
  }

  /** Gives a busy worker one more request (a free thread of it). */
  #share(worker: WorkerRecord, deadline: number): Lease {
    worker.pending++;
    worker.served++;
    return { worker, deadline };
  }

  /** Gives an idle worker a request. */
  #occupy(worker: WorkerRecord, deadline: number): Lease {
    clearTimeout(worker.idleTimer);
    worker.state = "busy";
    worker.pending = 1;
    worker.served++;
    worker.since = Date.now();
    return { worker, deadline };
  }

  /**
   * A worker given its last request before maximumRequests: its successor
   * starts now, while that request runs.
   */
  #handed(lease: Lease): Lease {
    const max = this.#config.maximumRequests;
    if (max > 0 && lease.worker.served === max) this.#supervisor.fill();
    return lease;
  }

  /** True when a busy worker has a thread free for one more request. */
  #takesMore(worker: WorkerRecord): boolean {
    return worker.state === "busy" && worker.pending < this.#config.threads &&
      lasting(
        worker,
        this.#supervisor.generation,
        this.#config.maximumRequests,
      );
  }

  /**
   * A worker for a request: at once when one is free, else after waiting
   * in the queue. Rejects with WorkerFailure (503) when the queue is full,
   * the wait would outlast a back-off, or queueTimeout ends the wait.
   */
  acquire(pipelinable: boolean): Promise<Lease> {
    const wait = this.#config.queueTimeout * 1000;
    const deadline = wait > 0 ? Date.now() + wait : Infinity;
    let threaded: WorkerRecord | undefined;
    for (const worker of this.#supervisor.workers) {
      if (worker.spare) continue;
      if (worker.state === "idle") {
        return Promise.resolve(this.#handed(this.#occupy(worker, deadline)));
      }
      if (
        this.#config.threads > 1 && this.#takesMore(worker) &&
        (!threaded || worker.pending < threaded.pending)
      ) threaded = worker;
    }
    if (threaded) {
      return Promise.resolve(this.#handed(this.#share(threaded, deadline)));
    }
    if (pipelinable && this.#queue.length === 0) {
      const worker = this.#pipelineTarget();
      if (worker) {
        return Promise.resolve(this.#handed(this.#pipeline(worker, deadline)));
      }
    }
    if (this.#queue.length + this.#pipelined() >= this.#config.queueLimit) {
      this.#counters.rejected++;
      return Promise.reject(
        new WorkerFailure(503, `queue full (${this.#config.queueLimit})`),
      );
    }
    const until = this.#supervisor.backoff.until;
    if (
      until !== undefined && !this.#supervisor.serving() && deadline < until
    ) {
      this.#counters.rejected++;
      return Promise.reject(this.#supervisor.backoff.refusal());
    }
    const waiting = this.#queue.wait(
      deadline,
      wait,
      pipelinable,
      () => this.#counters.queueTimeouts++,
    );
    this.#supervisor.fill();
    return waiting;
  }

  /** A request on `worker` is over: hands the worker on, or marks it idle. */
  release(worker: WorkerRecord): void {
    if (!this.#supervisor.workers.has(worker)) return;
    worker.pending = Math.max(0, worker.pending - 1);
    if (worker.pending > 0 && this.#config.threads > 1) {
      // Its other threads run on; this one takes the next waiting request.
      const waiter = this.#takesMore(worker) ? this.#queue.take() : undefined;
      if (waiter) {
        waiter.resolve(this.#handed(this.#share(worker, waiter.deadline)));
      }
      return;
    }
    if (worker.pending > 0) {
      // The next pipelined request runs now; keep the worker fed.
      worker.turns.shift()?.("start");
      worker.since = Date.now();
      while (
        this.#queue.first()?.pipelinable && this.#pipelineTarget() === worker
      ) {
        const waiter = this.#queue.take()!;
        waiter.resolve(this.#handed(this.#pipeline(worker, waiter.deadline)));
      }
      return;
    }
    if (this.#supervisor.recycling.stopIfDue(worker)) return;
    const waiter = this.#queue.take();
    if (waiter) {
      waiter.resolve(this.#handed(this.#occupy(worker, waiter.deadline)));
      // With threads, a free worker takes as many as it has threads for.
      while (this.#config.threads > 1 && this.#takesMore(worker)) {
        const next = this.#queue.take();
        if (!next) break;
        next.resolve(this.#handed(this.#share(worker, next.deadline)));
      }
      return;
    }
    worker.state = "idle";
    this.#steal();
    this.#supervisor.recycling.watchInactivity(worker);
  }

  /**
   * A worker fell idle while another holds pipelined requests (behind a
   * slow one, maybe): the last of those moves to the idle worker.
   */
  #steal(): void {
    clearTimeout(this.#stealTimer);
    this.#stealTimer = undefined;
    const workers = this.#supervisor.workers;
    if (![...workers].some((w) => w.state === "idle" && !w.spare)) return;
    const { from, retryAt } = stealFrom(workers, Date.now());
    if (from) {
      from.turns.pop()?.("steal");
    } else if (retryAt !== undefined) {
      this.#stealTimer = setTimeout(() => this.#steal(), retryAt - Date.now());
    }
  }

  /**
   * Waits until a pipelined request (`id` on the lease's worker) starts,
   * and resolves "start" then. When the worker gave it back, resolves
   * "timeout" (its queueTimeout ended: the caller answers 503) or "moved"
   * (a worker fell idle: the caller runs it again from the queue).
   */
  async awaitTurn(lease: Lease, id: number): Promise<TurnOutcome> {
    if (!lease.turn) return "start";
    const left = lease.deadline - Date.now();
    let alarm: Alarm | undefined;
    const how = left === Infinity ? await lease.turn : await Promise.race([
      lease.turn,
      new Promise<"late">((resolve) => {
        alarm = setAlarm(left, () => resolve("late"));
      }),
    ]);
    clearAlarm(alarm);
    if (how === "start") return "start";
    const { worker } = lease;
    const index = worker.turns.length;
    if (await worker.python.cancel(id)) {
      // It still counts as the worker's until the worker has skipped it.
      worker.dropping++;
      if (how === "late") {
        this.#counters.queueTimeouts++;
        return "timeout";
      }
      return "moved";
    }
    if (how === "steal") {
      // Too late: it started. Its turn is taken; keep the order of the rest.
      worker.turns.splice(Math.min(index, worker.turns.length), 0, () => {});
      return "start";
    }
    await lease.turn;
    return "start";
  }

  /** Fails the queued requests that cannot wait out the back-off. */
  rejectHopeless(): void {
    const until = this.#supervisor.backoff.until;
    if (until === undefined) return;
    this.#counters.rejected += this.#queue.rejectBefore(
      until,
      () => this.#supervisor.backoff.refusal(),
    );
  }

  /** Fails every waiting request (shutdown). */
  close(): void {
    clearTimeout(this.#stealTimer);
    this.#queue.rejectAll(new WorkerFailure(503, "shutting down"));
  }
}
