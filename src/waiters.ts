/**
 * What Python's locks and sleeps wait on in a group with threads
 * (python/threads.py): a promise that a timer or another request settles,
 * while the waiting request's stack is suspended.
 *
 * @module
 */

/** One wait: `promise` resolves with the outcome that `grant()` gives. */
export interface Waiter {
  promise: Promise<number>;
  /** Settles the wait with `outcome`; false when it was settled already. */
  grant(outcome: number): boolean;
}

/** The waits of one interpreter, so that they can all be dropped at once. */
export class Waiters {
  readonly #live = new Set<() => void>();

  /**
   * A wait that a timer settles with 0 after `milliseconds` (never when
   * negative), unless grant() settles it first.
   */
  readonly create = (milliseconds: number): Waiter => {
    let resolve!: (outcome: number) => void;
    const promise = new Promise<number>((r) => resolve = r);
    let settled = false;
    const drop = () => {
      settled = true;
      clearTimeout(timer);
      this.#live.delete(drop);
    };
    const grant = (outcome: number): boolean => {
      if (settled) return false;
      drop();
      resolve(outcome);
      return true;
    };
    const timer = milliseconds >= 0
      ? setTimeout(() => grant(0), milliseconds)
      : undefined;
    this.#live.add(drop);
    return { promise, grant };
  };

  /**
   * Leaves every wait unsettled for good. After a fatal error, resuming a
   * suspended request would run the dead interpreter again, whose errors
   * surface as unhandled rejections that end the server's process.
   */
  dropAll(): void {
    for (const drop of [...this.#live]) drop();
  }
}
