/**
 * The requests that wait for a worker, first come, first served, each with
 * its queueTimeout.
 *
 * @module
 */

import { clearAlarm, setAlarm } from "./alarms.ts";
import type { Lease, Waiter } from "./records.ts";
import { WorkerFailure } from "./worker.ts";

/** Requests waiting for a worker, in order of arrival. */
export class WaitQueue {
  readonly #waiters: Waiter[] = [];

  /** How many wait. */
  get length(): number {
    return this.#waiters.length;
  }

  /** The request that waited longest, left in the queue. */
  first(): Waiter | undefined {
    return this.#waiters[0];
  }

  /** Takes the request that waited longest; its queueTimeout stops. */
  take(): Waiter | undefined {
    const waiter = this.#waiters.shift();
    if (waiter) clearAlarm(waiter.timer);
    return waiter;
  }

  /**
   * Waits until a worker takes the request (see take()); after `waitMs`
   * (0: no limit) it leaves the queue and fails with 503, after
   * `onTimeout` has run.
   */
  wait(
    deadline: number,
    waitMs: number,
    pipelinable: boolean,
    onTimeout: () => void,
  ): Promise<Lease> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, deadline, pipelinable };
      if (waitMs > 0) {
        waiter.timer = setAlarm(waitMs, () => {
          this.#remove(waiter);
          onTimeout();
          reject(new WorkerFailure(503, "queue timeout"));
        });
      }
      this.#waiters.push(waiter);
    });
  }

  /** Fails, with `failure()`, every request whose wait ends before `time`. */
  rejectBefore(time: number, failure: () => WorkerFailure): number {
    const hopeless = this.#waiters.filter((w) => w.deadline < time);
    for (const waiter of hopeless) {
      this.#remove(waiter);
      waiter.reject(failure());
    }
    return hopeless.length;
  }

  /** Fails every waiting request with `failure`. */
  rejectAll(failure: WorkerFailure): void {
    for (const waiter of this.#waiters.splice(0)) {
      clearAlarm(waiter.timer);
      waiter.reject(failure);
    }
  }

  #remove(waiter: Waiter): void {
    clearAlarm(waiter.timer);
    const index = this.#waiters.indexOf(waiter);
    if (index >= 0) this.#waiters.splice(index, 1);
  }
}
