/**
 * A worker is a place a pool runs requests: a Web Worker or a child process
 * with its own interpreters (src/channel_worker.ts), or the server's own
 * isolate (src/embedded_worker.ts). The pool sees only this interface, so a
 * fake worker can drive it in unit tests.
 *
 * @module
 */

import type { GroupConfig, MountSpec } from "./config.ts";
import type { RecycleCause, ResponseHead } from "./protocol.ts";
import type { RequestBody } from "./request_body.ts";

/** Why a worker could not produce a response head. */
export class WorkerFailure extends Error {
  /** The HTTP status that tells the client best what happened. */
  readonly status: number;
  /** True when the request never started: another worker may run it. */
  readonly retry: boolean;
  constructor(status: number, message: string, retry = false) {
    super(message);
    this.name = "WorkerFailure";
    this.status = status;
    this.retry = retry;
  }
}

/** A request handed to a worker: its id, and its head once it has one. */
export interface WorkerRequest {
  /** Names the request in next(), close() and cancel(). */
  readonly id: number;
  /** The response head; rejects with WorkerFailure. */
  readonly head: Promise<ResponseHead>;
}

/** A place that runs one request at a time. */
export interface PythonWorker {
  /** Settles when the worker has started and loaded its mounts. */
  readonly ready: Promise<void>;
  /** Called when the worker stops on its own (it crashed; not after stop()). */
  onStop?: (reason: string) => void;
  /**
   * Called when stop() did not end the worker and it keeps burning a CPU
   * core (a Web Worker stuck where Python cannot be interrupted).
   */
  onStuck?: (cpuMsPerSecond: number) => void;
  /**
   * Called when a mount's script failed to load in this worker, or loaded:
   * at start, when a mount is added, and when a request retried the load.
   */
  onLoad?: (mountId: string, ok: boolean) => void;
  /**
   * Called when the worker should be recycled once its requests are done:
   * its heap passed memoryLimit, or a request raised MemoryError (cause
   * "memory"), or its thread used cpuTimeLimit (cause "cpu"). Called
   * before the end of the request that found it is reported.
   */
  onRecycle?: (reason: string, cause: RecycleCause) => void;
  /** Loads one more mount's script. */
  load(spec: MountSpec): void;
  /**
   * Hands a request over. A worker runs its requests one at a time, in
   * order: one handed over while another runs waits inside the worker
   * (pipelining), so the worker goes straight on to it, without sleeping.
   */
  start(
    spec: MountSpec,
    cgi: string,
    body: RequestBody,
    pipelined?: boolean,
  ): WorkerRequest;
  /** The next chunk of a started request. */
  next(id: number): Promise<{ chunk?: Uint8Array; done: boolean }>;
  /** Closes a request's iterable, or drops it if it has not started. */
  close(id: number): void;
  /**
   * Takes back a pipelined request that has not started; resolves false
   * when it already has (it then runs to its end as usual). Works while
   * Python runs: the worker's thread is not asked, it finds out when it
   * gets to the request, skips it, and says so through onDropped.
   */
  cancel(id: number): Promise<boolean>;
  /** A cancelled request was skipped: the worker is on to the next. */
  onDropped?: (id: number) => void;
  /** Raises KeyboardInterrupt in running Python, where the worker can. */
  interrupt(): void;
  /**
   * Ends one request where it waits on a socket, a lock or a sleep (groups
   * with threads), leaving the others running.
   */
  abort(id: number): void;
  /** Stops the worker for good. */
  stop(): void;
  /** Resident memory of the worker's own process in bytes, if it has one. */
  rss?(): number | undefined;
}

/**
 * Starts a worker for a group with the given mounts; `reads` lists what a
 * process worker may read (undefined: anything), so that a mount added
 * later outside it restarts the worker.
 */
export type WorkerFactory = (
  config: GroupConfig,
  mounts: MountSpec[],
) => { python: PythonWorker; reads?: string[] };
