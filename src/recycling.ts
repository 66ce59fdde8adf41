/**
 * Recycling: when a worker that serves is due to stop without failing.
 * Once its requests are done, if it reached maximumRequests, is of an
 * older generation (a restart), asked to be recycled (memoryLimit passed,
 * MemoryError), has served restartInterval or used cpuTimeLimit, or a
 * script of its has not loaded within startupTimeout (startup_watch.ts
 * says so); or once idle for inactivityTimeout.
 * supervisor.ts does the stopping and starts the successor.
 *
 * @module
 */

import type { GroupConfig } from "./config.ts";
import type { RecycleCause } from "./protocol.ts";
import { log } from "./logging.ts";
import type { Counters } from "./metrics.ts";
import { lasting, type WorkerRecord } from "./records.ts";
import type { Supervisor } from "./supervisor.ts";

/** Decides, for one group, when each worker is due to stop. */
export class Recycling {
  readonly #config: GroupConfig;
  readonly #counters: Counters;
  readonly #supervisor: Supervisor;

  constructor(
    config: GroupConfig,
    parts: { counters: Counters; supervisor: Supervisor },
  ) {
    this.#config = config;
    this.#counters = parts.counters;
    this.#supervisor = parts.supervisor;
  }

  /**
   * Stops a worker whose last request just ended if it must go: a script
   * that never loaded (stopWhenDone), an older generation, or
   * maximumRequests reached. True when it stopped.
   */
  stopIfDue(worker: WorkerRecord): boolean {
    if (worker.stopWhenDone !== undefined) {
      this.#supervisor.stop(worker, { failure: worker.stopWhenDone });
      return true;
    }
    if (worker.recycleWhenDone !== undefined) {
      log("info", `worker recycled: ${worker.recycleWhenDone}`, {
        group: this.#config.name,
      });
      this.#supervisor.stop(worker, "recycle");
      return true;
    }
    const { generation } = this.#supervisor;
    if (lasting(worker, generation, this.#config.maximumRequests)) {
      return false;
    }
    this.#supervisor.stop(worker, "recycle");
    return true;
  }

  /** An idle worker stops after inactivityTimeout, unless it gets work. */
  watchInactivity(worker: WorkerRecord): void {
    const idle = this.#config.inactivityTimeout * 1000;
    if (idle === 0) return;
    worker.idleTimer = setTimeout(() => {
      if (worker.state === "idle") this.#supervisor.stop(worker, "inactive");
    }, idle);
  }

  /**
   * A worker that is up is recycled once it has served restartInterval,
   * as mod_wsgi restarts a daemon after `restart-interval=`.
   */
  watchLifetime(worker: WorkerRecord): void {
    const seconds = this.#config.restartInterval;
    if (seconds === 0 || worker.lifetimeTimer !== undefined) return;
    worker.lifetimeTimer = setTimeout(() => {
      this.#recycle(
        worker,
        "info",
        `restartInterval (${seconds} s) reached`,
      );
    }, seconds * 1000);
    // A timer of a worker must not keep the process alive on its own.
    Deno.unrefTimer(worker.lifetimeTimer);
  }

  /**
   * The worker asked to be recycled (memoryLimit passed, or MemoryError;
   * cause "cpu": its thread used cpuTimeLimit, as mod_wsgi's
   * `cpu-time-limit=`): its successor starts now, and it stops once its
   * requests are done.
   */
  recycleWhenDone(
    worker: WorkerRecord,
    reason: string,
    cause: RecycleCause,
  ): void {
    const memory = cause === "memory";
    if (this.#recycle(worker, memory ? "warn" : "info", reason) && memory) {
      this.#counters.memoryRecycles++;
    }
  }

  /** Marks a worker to go once its requests are done; false if already. */
  #recycle(
    worker: WorkerRecord,
    level: "info" | "warn",
    reason: string,
  ): boolean {
    if (
      !this.#supervisor.workers.has(worker) ||
      worker.recycleWhenDone !== undefined
    ) {
      return false;
    }
    worker.recycleWhenDone = reason;
    log(
      level,
      `worker to be recycled once its requests are done: ${reason}`,
      { group: this.#config.name },
    );
    if (worker.state === "idle") {
      this.stopIfDue(worker);
    } else {
      this.#supervisor.fill();
    }
    return true;
  }
}
