/**
 * Supervision of a group's workers, and nothing else, as gunicorn's arbiter
 * does it: starting them (within startupTimeout), replacing one that stops
 * on its own (with back-off while they keep stopping), recycling at
 * maximumRequests, stopping idle ones (inactivityTimeout), and generations
 * for graceful restarts. Which request runs where is scheduler.ts's.
 *
 * @module
 */

import { Backoff } from "./backoff.ts";
import type { GroupConfig, MountSpec } from "./config.ts";
import { log } from "./logging.ts";
import type { Counters } from "./metrics.ts";
import { readable } from "./permissions.ts";
import { lasting, newRecord, type WorkerRecord } from "./records.ts";
import type { WorkerFactory } from "./worker.ts";

/**
 * Why a worker stops, which decides what follows: `{ failure }` (it
 * stopped on its own, or must not go on) counts a crash and starts a
 * replacement with back-off; "recycle" (maximumRequests, an older
 * generation) and "interrupt" (a request overran) replace it at once;
 * "inactive", "restart" and "shutdown" do not replace it here.
 */
export type StopCause =
  | { failure: string }
  | "recycle"
  | "interrupt"
  | "inactive"
  | "restart"
  | "shutdown";

/** What the supervisor asks of the scheduler. */
export interface SupervisorHooks {
  /** The worker can take a request: it started, or skipped one taken back. */
  release(worker: WorkerRecord): void;
  /** How many requests wait for a worker. */
  waiting(): number;
  /** Starts are held back: fail the requests that cannot wait that long. */
  backingOff(): void;
}

/** Starts, watches, recycles and stops the workers of one group. */
export class Supervisor {
  /** The workers, from starting to stopping. */
  readonly workers = new Set<WorkerRecord>();
  /** Raised by restart(): workers of an older one finish and stop. */
  generation = 0;
  /** Holds starts back while workers keep failing. */
  readonly backoff = new Backoff();
  readonly #config: GroupConfig;
  readonly #createWorker: WorkerFactory;
  readonly #counters: Counters;
  readonly #hooks: SupervisorHooks;
  readonly #mounts: MountSpec[] = [];
  #closed = false;
  #fillScheduled = false;
  #filling = false;

  constructor(
    config: GroupConfig,
    createWorker: WorkerFactory,
    options: { counters: Counters; hooks: SupervisorHooks },
  ) {
    this.#config = config;
    this.#createWorker = createWorker;
    this.#counters = options.counters;
    this.#hooks = options.hooks;
  }

  /** True once shutdown has begun. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds a mount. Running workers load it at once; the first workers start
   * after the current task, so that mounts added together start together.
   */
  attach(spec: MountSpec): void {
    this.#mounts.push(spec);
    let unreadable = false;
    for (const worker of this.workers) {
      if (readable(spec, worker.reads)) worker.python.load(spec);
      else unreadable = true;
    }
    // A sandboxed worker started before this mount cannot read its folder.
    if (unreadable) this.restart().catch(() => {});
    if (!this.#fillScheduled) {
      this.#fillScheduled = true;
      queueMicrotask(() => {
        this.#fillScheduled = false;
        this.fill();
      });
    }
  }

  /**
   * Starts workers until the pool has its configured size: `processes`
   * that last (a worker due to stop once its requests are done is replaced
   * ahead, so no request waits for its successor), then `spareWorkers`. A
   * spare that is up takes a missing worker's place first, even while
   * backing off.
   */
  fill(): void {
    if (this.#closed || this.#mounts.length === 0) return;
    // Creating the first Web Worker of the process can run queued
    // microtasks (Deno loads the Worker code lazily), and one of them may
    // be another fill: that one leaves the starting to this one.
    if (this.#filling) return;
    this.#filling = true;
    try {
      const wanted = this.#target(Math.max(1, this.#config.processes));
      while (this.#working() < wanted && this.#promote());
      // While backing off, only the back-off's timer starts workers.
      if (this.backoff.until !== undefined) return;
      while (this.#working() < wanted) this.#start(false);
      // Spares start once the others are up: on a small machine they
      // would slow the start of the workers that serve.
      if (this.#anyStarting()) return;
      while (this.#spares() < this.#config.spareWorkers) this.#start(true);
    } finally {
      this.#filling = false;
    }
  }

  /** Workers that serve, or will once started, and are not due to stop. */
  #working(): number {
    let current = 0;
    for (const worker of this.workers) {
      if (
        !worker.spare && worker.state !== "stopping" &&
        lasting(worker, this.generation, this.#config.maximumRequests)
      ) current++;
    }
    return current;
  }

  #anyStarting(): boolean {
    for (const worker of this.workers) {
      if (!worker.spare && worker.state === "starting") return true;
    }
    return false;
  }

  #spares(): number {
    let current = 0;
    for (const worker of this.workers) {
      if (worker.spare) current++;
    }
    return current;
  }

  /**
   * A spare becomes a worker like the others: one that is up at once, else
   * one still starting (it serves once up, and no second worker starts
   * beside it). False when there is no spare.
   */
  #promote(): boolean {
    const spares = [...this.workers].filter((w) => w.spare);
    const worker = spares.find((w) => w.state === "idle") ?? spares[0];
    if (!worker) return false;
    worker.spare = false;
    this.#counters.spareTakeovers++;
    if (worker.state === "idle") {
      log("info", "a spare worker took over", { group: this.#config.name });
      this.#hooks.release(worker);
    } else {
      log("info", "a spare worker still starting takes over once up", {
        group: this.#config.name,
      });
    }
    return true;
  }

  /**
   * How many workers should be up. With an inactivity timeout, workers
   * start on demand, not eagerly: one, and one more for each request that
   * waits.
   */
  #target(wanted: number): number {
    if (this.#config.inactivityTimeout === 0) return wanted;
    let busy = 0;
    for (const worker of this.workers) {
      if (worker.state === "busy") busy++;
    }
    return Math.min(wanted, busy + Math.max(1, this.#hooks.waiting()));
  }

  #start(spare: boolean): void {
    this.#counters.starts++;
    const { python, reads } = this.#createWorker(this.#config, [
      ...this.#mounts,
    ]);
    const worker = newRecord(python, {
      generation: this.generation,
      reads,
      spare,
    });
    this.workers.add(worker);
    python.onStop = (reason) => this.stop(worker, { failure: reason });
    python.onLoad = (mountId, ok) => this.#loaded(worker, mountId, ok);
    python.onRecycle = (reason) => this.#recycleWhenDone(worker, reason);
    python.onDropped = () => {
      worker.dropping--;
      this.#hooks.release(worker);
    };
    python.onStuck = (cpu) => {
      this.#counters.stuck++;
      log(
        "error",
        `a terminated worker thread keeps running (${cpu} ms of CPU per second): Python is stuck where it cannot be interrupted, and Deno cannot stop a Web Worker; it holds a core until the server restarts. Use isolation: "process" for this group.`,
        { group: this.#config.name },
      );
    };
    const startup = this.#config.startupTimeout * 1000;
    const timer = startup > 0
      ? setTimeout(() => {
        if (worker.state !== "starting") return;
        this.stop(worker, {
          failure:
            `it did not start within startupTimeout (${this.#config.startupTimeout} s)`,
        });
      }, startup)
      : undefined;
    python.ready.then(() => {
      clearTimeout(timer);
      if (worker.state !== "starting" || !this.workers.has(worker)) return;
      // Up and running: the next failure restarts at once again. A script
      // that failed to load is startupTimeout's business (#loaded).
      this.backoff.succeeded();
      if (worker.failing.size === 0) {
        log("info", worker.spare ? "spare worker ready" : "worker ready", {
          group: this.#config.name,
        });
      } else {
        log(
          "error",
          `worker started, but WSGI script ${
            this.#scriptsOf(worker.failing)
          } failed to load (traceback above); it answers 500 there and tries again on later requests`,
          { group: this.#config.name },
        );
      }
      if (worker.spare) {
        // Kept out of the scheduler's reach until it takes over.
        worker.state = "idle";
        this.fill();
      } else {
        this.#hooks.release(worker);
        if (this.#config.spareWorkers > 0) this.fill();
      }
    }, (error) => {
      clearTimeout(timer);
      this.stop(worker, {
        failure: `it failed to start: ${error?.message ?? error}`,
      });
    });
  }

  /**
   * Tracks scripts that fail to load. Like mod_wsgi's startup-timeout, a
   * worker whose script has not loaded successfully within startupTimeout
   * is replaced: maybe what the script needed at import (a database, a
   * file) is back. Until then it answers 500 for that mount, and each
   * request retries the load (at most once a second). The clock starts
   * with the worker for the scripts it starts with, and at the failure for
   * a script mounted later.
   */
  #loaded(worker: WorkerRecord, mountId: string, ok: boolean): void {
    if (ok) {
      if (!worker.failing.delete(mountId)) return;
      if (worker.failing.size === 0) {
        clearTimeout(worker.failingTimer);
        worker.failingTimer = undefined;
      }
      return;
    }
    worker.failing.add(mountId);
    const limit = this.#config.startupTimeout * 1000;
    if (worker.failingTimer !== undefined || limit === 0) return;
    const due = worker.state === "starting"
      ? worker.startedAt + limit
      : Date.now() + limit;
    worker.failingTimer = setTimeout(() => {
      worker.failingTimer = undefined;
      if (worker.failing.size === 0 || !this.workers.has(worker)) return;
      const scripts = this.#scriptsOf(worker.failing);
      const reason =
        `its WSGI script ${scripts} did not load within startupTimeout (${this.#config.startupTimeout} s)`;
      if (worker.state === "idle") {
        this.stop(worker, { failure: reason });
      } else {
        // The request in flight finishes first; see stopIfDue.
        worker.stopWhenDone = reason;
      }
    }, Math.max(0, due - Date.now()));
  }

  #scriptsOf(mountIds: Set<string>): string {
    return this.#mounts.filter((m) => mountIds.has(m.id))
      .map((m) => m.scriptPath).join(", ");
  }

  /**
   * The one way a worker stops: it leaves the pool, requests pipelined to
   * it go on (to find it gone and run elsewhere), its Python is stopped,
   * and what follows depends on `cause` (see StopCause).
   */
  stop(worker: WorkerRecord, cause: StopCause): void {
    if (!this.workers.delete(worker)) return;
    worker.gone();
    for (const turn of worker.turns.splice(0)) turn("start");
    clearTimeout(worker.idleTimer);
    clearTimeout(worker.failingTimer);
    if (cause === "interrupt") {
      // KeyboardInterrupt first, so that finally blocks and close() run;
      // then the worker goes anyway, as mod_wsgi restarts the process: the
      // app's state after an interrupt cannot be trusted.
      worker.python.interrupt();
      setTimeout(() => worker.python.stop(), 200);
    } else {
      worker.python.stop();
    }
    if (typeof cause === "object") {
      this.#replaceLater(cause.failure);
    } else if (cause === "recycle") {
      // Restarts of an older generation were counted by restart().
      if (worker.generation === this.generation) this.#counters.restarts++;
      this.fill();
    } else if (cause === "interrupt") {
      this.#counters.restarts++;
      this.fill();
    } else if (cause === "inactive") {
      log("info", "idle worker stopped (inactivityTimeout)", {
        group: this.#config.name,
      });
    }
  }

  /**
   * Stops a worker whose last request just ended if it must go: a script
   * that never loaded (stopWhenDone), an older generation, or
   * maximumRequests reached. True when it stopped.
   */
  stopIfDue(worker: WorkerRecord): boolean {
    if (worker.stopWhenDone !== undefined) {
      this.stop(worker, { failure: worker.stopWhenDone });
      return true;
    }
    if (worker.recycleWhenDone !== undefined) {
      log("info", `worker recycled: ${worker.recycleWhenDone}`, {
        group: this.#config.name,
      });
      this.stop(worker, "recycle");
      return true;
    }
    if (lasting(worker, this.generation, this.#config.maximumRequests)) {
      return false;
    }
    this.stop(worker, "recycle");
    return true;
  }

  /**
   * The worker asked to be recycled (memoryLimit passed, or MemoryError):
   * its successor starts now, and it stops once its requests are done.
   */
  #recycleWhenDone(worker: WorkerRecord, reason: string): void {
    if (!this.workers.has(worker) || worker.recycleWhenDone !== undefined) {
      return;
    }
    worker.recycleWhenDone = reason;
    this.#counters.memoryRecycles++;
    log(
      "warn",
      `worker to be recycled once its requests are done: ${reason}`,
      { group: this.#config.name },
    );
    if (worker.state === "idle") {
      this.stopIfDue(worker);
    } else {
      this.fill();
    }
  }

  /** An idle worker stops after inactivityTimeout, unless it gets work. */
  watchInactivity(worker: WorkerRecord): void {
    const idle = this.#config.inactivityTimeout * 1000;
    if (idle === 0) return;
    worker.idleTimer = setTimeout(() => {
      if (worker.state === "idle") this.stop(worker, "inactive");
    }, idle);
  }

  /** Counts a worker that failed and schedules its replacement, backing off. */
  #replaceLater(reason: string): void {
    if (this.#closed) return;
    this.#counters.crashes++;
    const delay = this.backoff.failed(() => {
      this.#counters.restarts++;
      this.fill();
    });
    const takeovers = this.#counters.spareTakeovers;
    // A spare that is up takes over now, whatever the back-off.
    this.fill();
    log(
      "error",
      `worker stopped: ${reason}; ${
        this.#counters.spareTakeovers > takeovers
          ? "a spare took over; a new worker starts"
          : "restarting it"
      }${delay ? ` in ${delay / 1000} s` : ""}`,
      { group: this.#config.name },
    );
    // Requests whose queueTimeout ends before the restart cannot be served:
    // say so now rather than let them wait it out.
    if (!this.serving()) this.#hooks.backingOff();
  }

  /** True when some worker is up (idle or busy), so the queue will move. */
  serving(): boolean {
    for (const worker of this.workers) {
      if (worker.spare) continue;
      if (worker.state === "idle" || worker.state === "busy") return true;
    }
    return false;
  }

  /**
   * Graceful restart: new workers start at once; requests in flight finish
   * on the old ones, which then stop. Resolves when the new ones are ready.
   */
  async restart(): Promise<void> {
    this.generation++;
    const old = [...this.workers];
    for (const worker of old) {
      if (worker.state === "idle" || worker.state === "starting") {
        this.stop(worker, "restart");
      } else {
        worker.state = "stopping";
      }
    }
    this.#counters.restarts += old.filter((w) => !w.spare).length;
    // A restart asked for by hand does not wait out a back-off.
    this.backoff.cancel();
    this.fill();
    await Promise.all(
      [...this.workers].filter((w) => w.generation === this.generation)
        .map((w) => w.settled),
    );
  }

  /** Waits until the workers have started (or failed to, or were stopped). */
  async ready(): Promise<void> {
    this.fill();
    await Promise.all(
      [...this.workers].filter((w) => !w.spare).map((w) => w.settled),
    );
  }

  /**
   * Waits until the workers have started, then rejects if a mount's script
   * failed to load in every one of them (its traceback is in the log).
   */
  async mountReady(spec: MountSpec): Promise<void> {
    await this.ready();
    const up = [...this.workers].filter((w) => w.state !== "starting");
    if (up.length > 0 && up.every((w) => w.failing.has(spec.id))) {
      throw new Error(
        `WSGI script ${spec.scriptPath} failed to load (its traceback is in the log); requests for it answer 500 and load it again`,
      );
    }
  }

  /** Starts no more workers (shutdown has begun). */
  close(): void {
    this.#closed = true;
    this.backoff.cancel();
  }

  /** Lets requests in flight run up to gracefulTimeout, then stops every worker. */
  async stopAll(): Promise<void> {
    const deadline = Date.now() + this.#config.gracefulTimeout * 1000;
    while (
      [...this.workers].some((w) =>
        w.state === "busy" || w.state === "stopping"
      ) && Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const worker of this.workers) this.stop(worker, "shutdown");
  }
}
