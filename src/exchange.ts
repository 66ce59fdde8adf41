/**
 * One request on the worker it was given: its turn behind pipelined ones,
 * requestTimeout, and what the pool resolves with (an Exchange) or fails
 * with (a GatewayError).
 *
 * @module
 */

import type { GroupConfig, MountSpec } from "./config.ts";
import { clearAlarm, setAlarm } from "./alarms.ts";
import { log } from "./logging.ts";
import type { Counters } from "./metrics.ts";
import type { ResponseHead } from "./protocol.ts";
import type { Lease } from "./records.ts";
import type { RequestBody } from "./request_body.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Supervisor } from "./supervisor.ts";
import { WorkerFailure } from "./worker.ts";

/**
 * A request that Python has started answering: its head, then its body one
 * chunk at a time. `done()` must be called once when the exchange is over,
 * however it ended, so the worker can take its next request.
 */
export interface Exchange {
  head: ResponseHead;
  /** The next body chunk; rejects when the application failed. */
  next(): Promise<{ chunk?: Uint8Array; done: boolean }>;
  /** Closes the application's iterable (the client went away). */
  cancel(): void;
  done(): void;
}

/** Why no worker answered a request: an HTTP status, and when to retry. */
export class GatewayError extends Error {
  /** 400, 500, 502, 503 or 504. */
  readonly status: number;
  /** Seconds a client should wait before trying again (503). */
  readonly retryAfter?: number;
  constructor(status: number, message: string, retryAfter?: number) {
    super(message);
    this.name = "GatewayError";
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** Seconds a client is told to wait before trying an overloaded group again. */
export const OVERLOAD_RETRY_AFTER = 5;

/**
 * How long a timed-out request in a group with threads may take to stop
 * after abort() before its worker is replaced.
 */
const ABORT_GRACE_MS = 2000;

/** A request as the pool was handed it. */
export interface PoolRequest {
  spec: MountSpec;
  cgi: string;
  body: RequestBody;
}

/** Runs requests on the workers the scheduler gives them. */
export class RequestRunner {
  readonly #config: GroupConfig;
  readonly #supervisor: Supervisor;
  readonly #scheduler: Scheduler;
  readonly #counters: Counters;

  constructor(
    config: GroupConfig,
    parts: { supervisor: Supervisor; scheduler: Scheduler; counters: Counters },
  ) {
    this.#config = config;
    this.#supervisor = parts.supervisor;
    this.#scheduler = parts.scheduler;
    this.#counters = parts.counters;
  }

  #logTimeout(how: string, spec: MountSpec): void {
    this.#counters.timeouts++;
    log(
      "error",
      `request exceeded requestTimeout (${this.#config.requestTimeout} s); ${how}`,
      { group: this.#config.name, mount: spec.prefix },
    );
  }

  /**
   * Runs a request on the worker of `lease`. Resolves undefined when the
   * request never started because the worker went: the caller tries again.
   */
  async run(lease: Lease, request: PoolRequest): Promise<Exchange | undefined> {
    const { spec } = request;
    const { worker } = lease;
    const python = worker.python;
    const started = python.start(
      spec,
      request.cgi,
      request.body,
      lease.turn !== undefined,
    );
    started.head.catch(() => {});
    const turn = await this.#scheduler.awaitTurn(lease, started.id);
    if (turn === "moved") return undefined;
    if (turn === "timeout") {
      log("warn", "request rejected: queue timeout", {
        group: this.#config.name,
        mount: spec.prefix,
      });
      throw new GatewayError(503, "queue timeout", OVERLOAD_RETRY_AFTER);
    }
    this.#counters.requests++;
    let finished = false;
    let timedOut = false;
    /** Answered 504 before its head: the worker still has to end it. */
    let abandoned = false;
    const done = () => {
      if (finished) return;
      finished = true;
      clearAlarm(timer);
      if (!timedOut) this.#scheduler.release(worker);
    };
    const limit = this.#config.requestTimeout * 1000;
    let onTimeout: (() => void) | undefined;
    const timer = limit > 0 && this.#config.threads > 1
      ? setAlarm(limit, () => {
        this.#logTimeout(
          "it is ended where it waits, the worker's other requests go on",
          spec,
        );
        python.abort(started.id);
        abandoned = onTimeout !== undefined;
        onTimeout?.();
        // A request that does not stop (busy on the CPU) costs its worker.
        const grace = setTimeout(() => {
          if (finished || !this.#supervisor.workers.has(worker)) return;
          timedOut = true;
          log(
            "error",
            "a timed-out request did not stop; its worker is replaced",
            { group: this.#config.name, mount: spec.prefix },
          );
          this.#supervisor.stop(worker, "interrupt");
        }, ABORT_GRACE_MS);
        Deno.unrefTimer(grace);
      })
      : limit > 0
      ? setAlarm(limit, () => {
        timedOut = true;
        this.#logTimeout("the worker is replaced", spec);
        this.#supervisor.stop(worker, "interrupt");
        onTimeout?.();
      })
      : undefined;
    try {
      const head = await Promise.race([
        started.head,
        new Promise<never>((_, reject) => {
          onTimeout = () => reject(new WorkerFailure(504, "request timeout"));
        }),
      ]);
      onTimeout = undefined;
      return {
        head,
        next: () => python.next(started.id),
        cancel: () => python.close(started.id),
        done,
      };
    } catch (error) {
      if (abandoned) {
        // Its thread is released only once Python has let go of it.
        started.head.then((head) => {
          head.lent?.release();
          if (!head.done) python.close(started.id);
        }, () => {}).finally(done);
        throw new GatewayError(504, "request timeout");
      }
      done();
      if (error instanceof WorkerFailure) {
        if (error.status === 504 && !timedOut) {
          // Embedded mode: the watchdog interrupted Python on this thread.
          this.#logTimeout("Python was interrupted", spec);
        }
        if (error.retry) {
          this.#counters.requests--;
          return undefined;
        }
        throw new GatewayError(error.status, error.message);
      }
      log("error", `gateway error: ${(error as Error)?.stack ?? error}`, {
        group: this.#config.name,
        mount: spec.prefix,
      });
      throw new GatewayError(500, "gateway error");
    }
  }
}
