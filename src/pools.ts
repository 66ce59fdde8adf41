/**
 * Process groups: a pool of workers (Web Workers, child processes, or the
 * embedded isolate) with mod_wsgi's daemon-mode controls. The pool
 * composes the parts that own them: supervisor.ts (starting, replacing,
 * recycling and stopping workers), scheduler.ts (which worker runs a
 * request: the wait queue, pipelining, threads) and exchange.ts (one
 * request on its worker, requestTimeout).
 *
 * @module
 */

import type { GroupConfig, MountSpec } from "./config.ts";
import {
  type Exchange,
  GatewayError,
  OVERLOAD_RETRY_AFTER,
  RequestRunner,
} from "./exchange.ts";
import { log } from "./logging.ts";
import {
  createCounters,
  type GroupMetrics,
  LatencyHistogram,
  measure,
} from "./metrics.ts";
import type { Lease } from "./records.ts";
import type { RequestBody } from "./request_body.ts";
import { Scheduler } from "./scheduler.ts";
import { Supervisor } from "./supervisor.ts";
import type { WorkerFactory } from "./worker.ts";

export { type Exchange, GatewayError } from "./exchange.ts";

/** How often a request that never started is tried on another worker. */
const MAX_RETRIES = 3;

/** A group's pool of workers. Its public face is groups.ts's `ProcessGroup`. */
export class Pool {
  /** The validated options. */
  readonly config: GroupConfig;
  readonly #counters = createCounters();
  readonly #latency = new LatencyHistogram();
  readonly #supervisor: Supervisor;
  readonly #scheduler: Scheduler;
  readonly #runner: RequestRunner;

  /** Use `defineGroup()`, which gives the pool the real workers. */
  constructor(config: GroupConfig, createWorker: WorkerFactory) {
    this.config = config;
    const counters = this.#counters;
    // The supervisor and the scheduler call each other; its hooks first run
    // after the constructor, when `scheduler` is set.
    const supervisor: Supervisor = new Supervisor(config, createWorker, {
      counters,
      hooks: {
        release: (worker) => scheduler.release(worker),
        waiting: () => scheduler.waiting,
        backingOff: () => scheduler.rejectHopeless(),
      },
    });
    const scheduler: Scheduler = new Scheduler(config, supervisor, {
      counters,
    });
    this.#supervisor = supervisor;
    this.#scheduler = scheduler;
    this.#runner = new RequestRunner(config, {
      supervisor,
      scheduler,
      counters,
    });
  }

  /** The group's name. */
  get name(): string {
    return this.config.name;
  }

  /**
   * Adds a mount. Running workers load it at once; the first workers start
   * after the current task, so that mounts added together start together.
   */
  attach(spec: MountSpec): void {
    this.#supervisor.attach(spec);
  }

  /**
   * Runs one request on a free worker. Resolves with the response head and
   * the rest of the exchange once Python has started answering; fails with
   * a GatewayError (already logged) when no worker could answer.
   */
  async handle(
    spec: MountSpec,
    cgi: string,
    body: () => Promise<RequestBody>,
  ): Promise<Exchange> {
    if (this.#supervisor.closed) {
      throw new GatewayError(503, "the group is shutting down", 1);
    }
    // A small body is read before a worker is taken: a slow client then
    // holds no worker, and its upload time does not count against
    // requestTimeout. A large one streams, as the worker reads it.
    const arrived = performance.now();
    let requestBody: RequestBody;
    try {
      requestBody = await body();
    } catch {
      throw new GatewayError(400, "the request body could not be read");
    }
    const request = { spec, cgi, body: requestBody };
    for (let attempt = 0;; attempt++) {
      let lease: Lease;
      try {
        lease = await this.#scheduler.acquire(requestBody.kind !== "stream");
      } catch (error) {
        log("warn", `request rejected: ${(error as Error).message}`, {
          group: this.config.name,
          mount: spec.prefix,
        });
        throw new GatewayError(
          503,
          (error as Error).message,
          this.#retryAfter(),
        );
      }
      const exchange = await this.#timed(
        arrived,
        () => this.#runner.run(lease, request),
      );
      if (exchange) return exchange;
      if (attempt + 1 >= MAX_RETRIES) {
        throw new GatewayError(502, "the workers went away");
      }
    }
  }

  /**
   * Runs `run` and records in the latency histogram how long the request
   * took from `arrived` to the end of its response (or its failure).
   */
  async #timed(
    arrived: number,
    run: () => Promise<Exchange | undefined>,
  ): Promise<Exchange | undefined> {
    const record = () =>
      this.#latency.observe((performance.now() - arrived) / 1000);
    let exchange: Exchange | undefined;
    try {
      exchange = await run();
    } catch (error) {
      record();
      throw error;
    }
    if (!exchange) return undefined;
    const done = exchange.done;
    let recorded = false;
    exchange.done = () => {
      if (!recorded) {
        recorded = true;
        record();
      }
      done();
    };
    return exchange;
  }

  /** Seconds a refused client should wait: until the next start, if backing off. */
  #retryAfter(): number {
    const until = this.#supervisor.backoff.until;
    return until === undefined
      ? OVERLOAD_RETRY_AFTER
      : Math.max(1, Math.ceil((until - Date.now()) / 1000));
  }

  /**
   * Graceful restart: new workers start at once; requests in flight finish
   * on the old ones, which then stop. Resolves when the new ones are ready.
   */
  restart(): Promise<void> {
    return this.#supervisor.restart();
  }

  /** Waits until the workers have started (or failed to). */
  ready(): Promise<void> {
    return this.#supervisor.ready();
  }

  /**
   * Waits until the workers have started, then rejects if a mount's script
   * failed to load in every one of them (its traceback is in the log). The
   * group keeps serving and tries the script again on later requests.
   */
  mountReady(spec: MountSpec): Promise<void> {
    return this.#supervisor.mountReady(spec);
  }

  /**
   * Stops taking requests, lets those in flight run up to gracefulTimeout,
   * then stops every worker.
   */
  async shutdown(): Promise<void> {
    this.#supervisor.close();
    this.#scheduler.close();
    await this.#supervisor.stopAll();
  }

  /** Counts for a status page or a Prometheus export. */
  metrics(): GroupMetrics {
    return measure(this.config, {
      workers: this.#supervisor.workers,
      queueLength: this.#scheduler.queueLength,
      counters: this.#counters,
      latency: this.#latency,
    });
  }
}
