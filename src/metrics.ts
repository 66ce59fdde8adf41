/**
 * What a group reports about itself: `metrics()`, for a status page or a
 * Prometheus export.
 *
 * @module
 */

import type { GroupConfig } from "./config.ts";
import type { WorkerRecord } from "./records.ts";

/**
 * A snapshot of a group's state, for status pages and metrics.
 *
 * @example A Prometheus gauge of waiting requests
 * ```ts
 * import { defineGroup, type GroupMetrics } from "../mod.ts";
 * const group = defineGroup("metrics-example", { processes: 1 });
 * const metrics: GroupMetrics = group.metrics();
 * const line = `wsgi_queue_length{group="${metrics.name}"} ${metrics.queueLength}`;
 * await group.shutdown();
 * ```
 */
export interface GroupMetrics {
  /** The group's name. */
  name: string;
  /** Where Python runs: Web Workers, child processes, or the server's isolate. */
  mode: "workers" | "processes" | "embedded";
  /** The configured number of workers. */
  processes: number;
  /** Live workers by state; one finishing its last request before a restart counts as busy. Spares are not counted here. */
  workers: { idle: number; busy: number; starting: number };
  /** Spare workers (`spareWorkers`), started or starting. */
  spares: number;
  /** Requests waiting for a worker now. */
  queueLength: number;
  /** Requests handed to a worker so far. */
  requests: number;
  /** Workers started so far, the first ones included. */
  starts: number;
  /** Workers replaced: recycled, timed out, crashed, restarted or failing to load. */
  restarts: number;
  /** Requests answered 504 after requestTimeout. */
  timeouts: number;
  /** Requests answered 503 after queueTimeout. */
  queueTimeouts: number;
  /** Requests answered 503 at once: queue full, or the group backing off after crashes. */
  rejected: number;
  /** Workers that stopped on their own or never started. */
  crashes: number;
  /** Times a spare worker took over from one that stopped (`spareWorkers`). */
  spareTakeovers: number;
  /** Workers recycled for their memory: past `memoryLimit`, or after a MemoryError. */
  memoryRecycles: number;
  /**
   * Web Workers still burning CPU after stop() (Deno cannot end a thread
   * stuck outside Python's reach); `isolation: "process"` avoids it.
   */
  stuck: number;
  /** Resident memory of the workers in bytes, where they are processes. */
  rss?: number;
  /**
   * How long requests took, from arrival at the group (queueing included)
   * to the last byte of their response: a histogram in seconds, as
   * Prometheus keeps one.
   */
  latency: LatencySnapshot;
}

/**
 * A latency histogram: cumulative counts of requests at or under each bound.
 *
 * @example The share of a group's requests answered within 100 ms
 * ```ts
 * import { defineGroup, type LatencySnapshot } from "../mod.ts";
 * const group = defineGroup("latency-example", { processes: 1 });
 * const latency: LatencySnapshot = group.metrics().latency;
 * const fast = latency.buckets.find((bucket) => bucket.le === 0.1)!.count;
 * const share = latency.count === 0 ? 1 : fast / latency.count;
 * await group.shutdown();
 * ```
 */
export interface LatencySnapshot {
  /** Requests measured. */
  count: number;
  /** Their total time in seconds. */
  sum: number;
  /** Upper bounds in seconds, ascending, with the requests at or under each. */
  buckets: { le: number; count: number }[];
}

/** Bucket bounds in seconds: Prometheus's defaults, up to request timeouts. */
const LATENCY_BOUNDS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** Counts request durations into LATENCY_BOUNDS; fixed memory, O(buckets). */
export class LatencyHistogram {
  #counts = new Array<number>(LATENCY_BOUNDS.length).fill(0);
  #count = 0;
  #sum = 0;

  /** Records one request that took `seconds`. */
  observe(seconds: number): void {
    this.#count++;
    this.#sum += seconds;
    const index = LATENCY_BOUNDS.findIndex((bound) => seconds <= bound);
    if (index >= 0) this.#counts[index]++;
  }

  snapshot(): LatencySnapshot {
    let running = 0;
    return {
      count: this.#count,
      sum: this.#sum,
      buckets: LATENCY_BOUNDS.map((le, index) => {
        running += this.#counts[index];
        return { le, count: running };
      }),
    };
  }
}

/** The counters of `GroupMetrics`, as a pool keeps them. */
export type Counters = Pick<
  GroupMetrics,
  | "requests"
  | "starts"
  | "restarts"
  | "timeouts"
  | "queueTimeouts"
  | "rejected"
  | "crashes"
  | "stuck"
  | "spareTakeovers"
  | "memoryRecycles"
>;

/** Counters at zero, for a new pool. */
export function createCounters(): Counters {
  return {
    requests: 0,
    starts: 0,
    restarts: 0,
    timeouts: 0,
    queueTimeouts: 0,
    rejected: 0,
    crashes: 0,
    stuck: 0,
    spareTakeovers: 0,
    memoryRecycles: 0,
  };
}

/** A group's metrics from its workers, its queue and its counters. */
export function measure(
  config: GroupConfig,
  state: {
    workers: Iterable<WorkerRecord>;
    queueLength: number;
    counters: Counters;
    latency: LatencyHistogram;
  },
): GroupMetrics {
  const workers = { idle: 0, busy: 0, starting: 0 };
  let spares = 0;
  let rss: number | undefined;
  for (const worker of state.workers) {
    if (worker.spare) spares++;
    else if (worker.state === "idle") workers.idle++;
    else if (worker.state === "starting") workers.starting++;
    else workers.busy++;
    const bytes = worker.python.rss?.();
    if (bytes !== undefined) rss = (rss ?? 0) + bytes;
  }
  return {
    name: config.name,
    mode: config.processes === 0
      ? "embedded"
      : config.isolation === "process"
      ? "processes"
      : "workers",
    processes: config.processes,
    workers,
    spares,
    queueLength: state.queueLength,
    ...state.counters,
    ...(rss === undefined ? {} : { rss }),
    latency: state.latency.snapshot(),
  };
}
