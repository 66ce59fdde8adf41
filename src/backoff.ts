/**
 * Back-off between worker starts while workers keep failing (stopping on
 * their own, or not loading their scripts): the first is replaced at once,
 * then 0.5 s, doubling up to 30 s, until one starts and stays up.
 *
 * @module
 */

import { WorkerFailure } from "./worker.ts";

const MAX_BACKOFF_MS = 30_000;

/** How long to wait before the next start after `failures` in a row. */
export function restartDelay(failures: number): number {
  return Math.min(
    MAX_BACKOFF_MS,
    failures <= 1 ? 0 : 500 * 2 ** (failures - 2),
  );
}

/** The failures in a row of one group, and the start they hold back. */
export class Backoff {
  #failures = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #until = 0;

  /** When the held-back start is due (ms since the epoch); undefined when none is. */
  get until(): number | undefined {
    return this.#timer === undefined ? undefined : this.#until;
  }

  /**
   * Counts a failure and calls `start` after restartDelay (replacing a
   * start already held back). Returns the delay in ms.
   */
  failed(start: () => void): number {
    this.#failures++;
    const delay = restartDelay(this.#failures);
    clearTimeout(this.#timer);
    this.#until = Date.now() + delay;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      start();
    }, delay);
    return delay;
  }

  /** A worker is up: the next failure is replaced at once again. */
  succeeded(): void {
    this.#failures = 0;
  }

  /** Drops the held-back start (a restart by hand, or shutdown). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Why a request is refused while a start is held back. */
  refusal(): WorkerFailure {
    const seconds = Math.ceil((this.#until - Date.now()) / 1000);
    return new WorkerFailure(
      503,
      `the group's workers keep failing; next start in ${seconds} s`,
    );
  }
}
