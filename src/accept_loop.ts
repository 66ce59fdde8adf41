/**
 * `serve()`'s accept loop: it takes connections from the listener until
 * the listener closes, waits while `maxClients` are open (the next clients
 * wait in the listen backlog), and when accepting fails (out of file
 * descriptors: EMFILE) it backs off, 10 ms doubling up to 1 s, and tries
 * again; Deno.serve's own loop ends there. Each burst of refusals is
 * logged once, and once more when accepting works again.
 *
 * @module
 */

import { log } from "./logging.ts";

/** What the loop uses of a `Deno.Listener`. */
export interface Acceptor {
  accept(): Promise<Deno.Conn>;
  close(): void;
}

/** The first pause after a refused accept, in milliseconds. */
const FIRST_DELAY = 10;
/** The longest pause between two attempts, in milliseconds. */
const MAX_DELAY = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Accepts connections from a listener until it closes or `stop()`. */
export class AcceptLoop {
  /** Resolves when the loop has ended (stopped, or the listener closed). */
  readonly finished: Promise<void>;
  readonly #listener: Acceptor;
  readonly #maxClients: number;
  readonly #open: () => number;
  readonly #accept: (conn: Deno.Conn) => void;
  #stopping = false;
  /** Wakes the loop while it waits for room under maxClients. */
  #wake?: () => void;

  /**
   * Starts at once. `open` counts the connections open now; `accept` is
   * given each new one.
   */
  constructor(
    listener: Acceptor,
    maxClients: number,
    open: () => number,
    accept: (conn: Deno.Conn) => void,
  ) {
    this.#listener = listener;
    this.#maxClients = maxClients;
    this.#open = open;
    this.#accept = accept;
    this.finished = this.#run();
  }

  /** A connection closed: a loop waiting at maxClients may accept again. */
  roomMade(): void {
    this.#wake?.();
  }

  /** Closes the listener; resolves once the loop has ended. */
  stop(): Promise<void> {
    this.#stopping = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    this.#wake?.();
    return this.finished;
  }

  async #run(): Promise<void> {
    let refused = 0;
    let refusedSince = 0;
    let delay = FIRST_DELAY;
    let full = false;
    while (!this.#stopping) {
      if (this.#open() >= this.#maxClients) {
        if (!full) {
          log(
            "warn",
            `${this.#open()} connections open, the maximum (maxClients): new clients wait in the listen backlog`,
          );
          full = true;
        }
        await new Promise<void>((resolve) => this.#wake = resolve);
        this.#wake = undefined;
        continue;
      }
      if (full && this.#open() < this.#maxClients * 0.9) full = false;
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) break;
        if (refused++ === 0) {
          refusedSince = performance.now();
          log(
            "warn",
            `cannot accept connections (${
              (error as Error).message
            }) with ${this.#open()} open: new clients wait in the listen backlog; retrying`,
          );
        }
        await sleep(delay);
        delay = Math.min(delay * 2, MAX_DELAY);
        continue;
      }
      if (refused > 0) {
        log(
          "warn",
          `accepting connections again after ${
            Math.round(performance.now() - refusedSince)
          } ms (${refused} attempts refused)`,
        );
        refused = 0;
        delay = FIRST_DELAY;
      }
      this.#accept(conn);
    }
  }
}
