/**
 * What a pool knows about each of its workers, and about each request that
 * waits for one.
 *
 * @module
 */

import type { PythonWorker, WorkerFailure } from "./worker.ts";
import type { Alarm } from "./alarms.ts";

export interface WorkerRecord {
  python: PythonWorker;
  state: "starting" | "idle" | "busy" | "stopping";
  /** Requests handed to it so far (pipelined ones included). */
  served: number;
  idleTimer?: ReturnType<typeof setTimeout>;
  /** Rings once the worker has served restartInterval. */
  lifetimeTimer?: ReturnType<typeof setTimeout>;
  generation: number;
  /** Mounts whose script failed to load here, and since when. */
  failing: Set<string>;
  failingTimer?: ReturnType<typeof setTimeout>;
  /** When the worker was started (ms since the epoch). */
  startedAt: number;
  /** Folders a process worker may read; undefined: anything. */
  reads?: string[];
  /** Set when the worker must go once its request is done, and why. */
  stopWhenDone?: string;
  /**
   * Set when the worker asked to be recycled once its requests are done
   * (memoryLimit, MemoryError), and why: a recycle, not a failure.
   */
  recycleWhenDone?: string;
  /**
   * A spare (spareWorkers): started and kept idle, handed no request until
   * it takes over from a worker that stops.
   */
  spare: boolean;
  /** Requests handed to the worker and not finished: more than 1 when pipelined. */
  pending: number;
  /**
   * The pipelined requests' turns, in order: "start" when the one before
   * finished, "steal" when an idle worker should take it instead.
   */
  turns: ((how: Turn) => void)[];
  /** Pipelined requests taken back that the worker has not skipped yet. */
  dropping: number;
  /** When the running request started (ms since the epoch). */
  since: number;
  /**
   * Settles when the worker is up, could not start, or was stopped (a
   * stopped worker's own `ready` may never settle).
   */
  settled: Promise<void>;
  /** Settles `settled`: the worker stopped. */
  gone: () => void;
}

/** The record of a worker that starts now. */
export function newRecord(
  python: PythonWorker,
  options: { generation: number; reads?: string[]; spare?: boolean },
): WorkerRecord {
  let gone!: () => void;
  const stopped = new Promise<void>((resolve) => gone = resolve);
  return {
    python,
    settled: Promise.race([python.ready.catch(() => {}), stopped]),
    gone,
    state: "starting",
    served: 0,
    generation: options.generation,
    failing: new Set(),
    startedAt: Date.now(),
    reads: options.reads,
    spare: options.spare ?? false,
    pending: 0,
    turns: [],
    dropping: 0,
    since: 0,
  };
}

/** How a pipelined request's wait ends. */
export type Turn = "start" | "steal";

/** A worker given to a request; `turn` settles when a pipelined one starts. */
export interface Lease {
  worker: WorkerRecord;
  turn?: Promise<Turn>;
  /** When queueTimeout ends its wait (ms since the epoch). */
  deadline: number;
}

export interface Waiter {
  resolve: (lease: Lease) => void;
  reject: (error: WorkerFailure) => void;
  timer?: Alarm;
  /** When queueTimeout ends its wait (ms since the epoch). */
  deadline: number;
  /** False for a request whose body streams: it waits for an idle worker. */
  pipelinable: boolean;
}

/**
 * True unless the worker is to stop once its requests are done: it is of
 * an older generation, its script never loaded (stopWhenDone), it asked
 * to be recycled (recycleWhenDone), or it has been handed
 * `maximumRequests` (0: no limit).
 */
export function lasting(
  worker: WorkerRecord,
  generation: number,
  maximumRequests: number,
): boolean {
  return worker.generation === generation &&
    worker.stopWhenDone === undefined &&
    worker.recycleWhenDone === undefined &&
    (maximumRequests === 0 || worker.served < maximumRequests);
}
