/**
 * Supervision of a group's workers, and nothing else, as gunicorn's arbiter
 * does it: starting them up to the pool's size (staffing.ts counts it,
 * spares included; startup_watch.ts holds them to startupTimeout),
 * replacing one that stops on its own (with back-off while they keep
 * stopping), stopping the ones recycling.ts finds due, generations for
 * graceful restarts, and shutdown. Which request runs where is
 * scheduler.ts's.
 *
 * @module
 */

import { Backoff } from "./backoff.ts";
import type { GroupConfig, MountSpec } from "./config.ts";
import { log } from "./logging.ts";
import type { Counters } from "./metrics.ts";
import { readable } from "./permissions.ts";
import { newRecord, type WorkerRecord } from "./records.ts";
import { Recycling } from "./recycling.ts";
import { StartupWatch } from "./startup_watch.ts";
import {
  anyStarting,
  nextSpare,
  serving,
  spares,
  wanted,
  working,
} from "./staffing.ts";
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
  /** When a worker that serves is due to stop (the scheduler asks it). */
  readonly recycling: Recycling;
  readonly #config: GroupConfig;
  readonly #createWorker: WorkerFactory;
  readonly #counters: Counters;
  readonly #hooks: SupervisorHooks;
  readonly #mounts: MountSpec[] = [];
  readonly #startup: StartupWatch;
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
    const parts = { counters: this.#counters, supervisor: this };
    this.recycling = new Recycling(config, parts);
    this.#startup = new StartupWatch(config, {
      ...parts,
      mounts: this.#mounts,
    });
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
      const { workers } = this;
      const target = wanted(this.#config, workers, this.#hooks.waiting());
      const short = () =>
        working(workers, this.generation, this.#config.maximumRequests) <
          target;
      while (short() && this.#promote());
      // While backing off, only the back-off's timer starts workers.
      if (this.backoff.until !== undefined) return;
      while (short()) this.#start(false);
      // Spares start once the others are up: on a small machine they
      // would slow the start of the workers that serve.
      if (anyStarting(workers)) return;
      while (spares(workers) < this.#config.spareWorkers) this.#start(true);
    } finally {
      this.#filling = false;
    }
  }

  /**
   * A spare (staffing.ts's nextSpare) becomes a worker like the others.
   * False when there is no spare.
   */
  #promote(): boolean {
    const worker = nextSpare(this.workers);
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
    python.onLoad = (mountId, ok) => this.#startup.loaded(worker, mountId, ok);
    python.onRecycle = (reason, cause) =>
      this.recycling.recycleWhenDone(worker, reason, cause);
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
    this.#startup.watch(worker, (up) => this.#up(up));
  }

  /** A worker is up: it serves, or a spare waits. */
  #up(worker: WorkerRecord): void {
    this.recycling.watchLifetime(worker);
    if (worker.spare) {
      // Kept out of the scheduler's reach until it takes over.
      worker.state = "idle";
      this.fill();
    } else {
      this.#hooks.release(worker);
      if (this.#config.spareWorkers > 0) this.fill();
    }
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
    clearTimeout(worker.lifetimeTimer);
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
    return serving(this.workers);
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
    this.#startup.checkLoaded(spec);
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
