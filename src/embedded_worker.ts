/**
 * Embedded mode: Python in the server's own isolate, mod_wsgi's embedded
 * mode, with a watchdog Web Worker for requestTimeout.
 *
 * @module
 */

import type { MountSpec } from "./config.ts";
import { InterpreterHost } from "./interpreters.ts";
import { ApplicationError } from "./request_calls.ts";
import { log } from "./logging.ts";
import type {
  BodySource,
  InterpreterSettings,
  RecycleCause,
  ResponseHead,
} from "./protocol.ts";
import { readBodyBatch, type RequestBody } from "./request_body.ts";
import {
  type PythonWorker,
  WorkerFailure,
  type WorkerRequest,
} from "./worker.ts";
import type { WatchdogSetup } from "./watchdog_main.ts";

const WATCHDOG_URL = new URL("./watchdog_main.ts", import.meta.url);

/**
 * Embedded mode: the interpreters live in the server's own isolate, as in
 * mod_wsgi's embedded mode. Python blocks the event loop while it runs.
 */
export class EmbeddedWorker implements PythonWorker {
  readonly ready: Promise<void>;
  onStop?: (reason: string) => void;
  onLoad?: (mountId: string, ok: boolean) => void;
  onRecycle?: (reason: string, cause: RecycleCause) => void;
  readonly #host: InterpreterHost;
  #stopped = false;
  /** Set by a fatal Pyodide error: nothing may call into Python again. */
  #broken = false;
  /** Shared with the watchdog: see src/watchdog_main.ts. */
  readonly #words?: Int32Array;
  readonly #base = Date.now();
  readonly #watchdog?: Worker;
  #nextId = 0;
  /** Requests begun and not ended, each with what fails it at once. */
  readonly #open = new Map<number, (failure: WorkerFailure) => void>();
  /** Requests whose head Python has returned, and not ended. */
  readonly #answering = new Set<number>();

  /**
   * With `requestTimeout` (seconds, 0 for none), a watchdog Web Worker
   * interrupts Python that runs longer, as this isolate cannot.
   */
  constructor(
    settings: InterpreterSettings,
    mounts: MountSpec[],
    options: { requestTimeout?: number } = {},
  ) {
    this.#host = new InterpreterHost(
      settings,
      (level, message, mount) =>
        log(level, message, { mount, group: settings.group }),
      // The Response is built on this thread: it copies a large first
      // chunk straight out of Python's memory.
      { mounts, lend: true },
    );
    const timeout = options.requestTimeout ?? 0;
    // With threads, requests interleave and an interrupt would hit whichever
    // one runs: the pool ends a late request with abort() instead.
    if (timeout > 0 && settings.threads <= 1) {
      const flags = new SharedArrayBuffer(12);
      this.#words = new Int32Array(flags);
      this.#host.setInterruptBuffer(new Int32Array(flags, 0, 1));
      this.#watchdog = new Worker(WATCHDOG_URL, {
        type: "module",
        name: `wsgi-watchdog:${settings.group}`,
      });
      this.#watchdog.postMessage(
        {
          flags,
          base: this.#base,
          timeoutMs: timeout * 1000,
        } satisfies WatchdogSetup,
      );
    }
    this.ready = Promise.all(mounts.map((spec) => this.#load(spec))).then(
      () => {},
    );
  }

  /** The request's clock starts (the watchdog watches it). */
  #clockOn(): void {
    if (!this.#words) return;
    Atomics.store(this.#words, 2, 0);
    Atomics.store(this.#words, 1, Date.now() - this.#base + 1);
  }

  /**
   * The request is over. Returns true when the watchdog interrupted it;
   * a flag it raised that Python did not get to see is cleared, so that
   * it does not hit the next request.
   */
  #clockOff(): boolean {
    if (!this.#words) return false;
    Atomics.store(this.#words, 1, 0);
    if (Atomics.load(this.#words, 2) === 0) return false;
    Atomics.store(this.#words, 0, 0);
    Atomics.store(this.#words, 2, 0);
    return true;
  }

  #load(spec: MountSpec): Promise<void> {
    return this.#host.load(spec).then(
      () => this.onLoad?.(spec.id, true),
      (error) => {
        if (!this.#fatal(error)) this.onLoad?.(spec.id, false);
      },
    );
  }

  /**
   * A fatal Pyodide error leaves this interpreter unusable: the pool
   * replaces the worker, which means a fresh Pyodide in this same isolate.
   */
  #fatal(error: unknown): boolean {
    if (!(error instanceof ApplicationError && error.fatal)) return false;
    if (!this.#stopped) {
      this.#stopped = true;
      this.#broken = true;
      this.#host.halt();
      // With threads, other requests wait inside the dead interpreter:
      // they fail now, each with its own 502, instead of at requestTimeout.
      const failure = new WorkerFailure(502, "the Python interpreter failed");
      for (const fail of this.#open.values()) fail(failure);
      this.onStop?.("the Python interpreter suffered a fatal error");
    }
    return true;
  }

  load(spec: MountSpec): void {
    this.#load(spec);
  }

  start(spec: MountSpec, cgi: string, body: RequestBody): WorkerRequest {
    // Never pipelined: Python runs on this thread, there is no "ahead".
    const id = this.#nextId++;
    const failed = new Promise<never>((_, reject) => {
      this.#open.set(id, reject);
    });
    const head = Promise.race([this.#begin(spec, id, cgi, body), failed]);
    head.then((answer) => {
      if (!answer.done && this.#open.has(id)) this.#answering.add(id);
    }, () => {});
    return { id, head };
  }

  async #begin(
    spec: MountSpec,
    id: number,
    cgi: string,
    body: RequestBody,
  ): Promise<ResponseHead> {
    if (this.#stopped) throw new WorkerFailure(502, "the interpreter is gone");
    let source: BodySource;
    if (body.kind === "stream") {
      const reader = body.reader;
      source = { kind: "stream", read: () => readBodyBatch(reader) };
    } else {
      source = body;
    }
    this.#clockOn();
    try {
      const head = await this.#host.begin(spec, id, cgi, source);
      this.#checkMemory();
      if (head.done) this.#ended(id);
      this.onLoad?.(spec.id, true);
      return head;
    } catch (error) {
      const failure = this.#failure(
        id,
        error,
        "the application failed; see the log",
      );
      if (failure instanceof WorkerFailure && failure.status === 500) {
        this.onLoad?.(spec.id, !(error as ApplicationError).loading);
      }
      throw failure;
    }
  }

  /** Asks the pool for a recycle when memoryLimit passed or on MemoryError. */
  #checkMemory(): void {
    const reason = this.#host.recycleReason();
    if (reason) this.onRecycle?.(reason, "memory");
  }

  /** What a request that failed in Python fails with (the log has why). */
  #failure(id: number, error: unknown, message: string): unknown {
    this.#checkMemory();
    const interrupted = this.#ended(id);
    if (this.#fatal(error)) {
      return new WorkerFailure(502, "the Python interpreter failed");
    }
    if (interrupted) return new WorkerFailure(504, "request timeout");
    if (error instanceof ApplicationError) {
      return new WorkerFailure(500, message);
    }
    return error;
  }

  /** A request is over; true when the watchdog interrupted it. */
  #ended(id: number): boolean {
    this.#open.delete(id);
    this.#answering.delete(id);
    return this.#clockOff();
  }

  async next(id: number): Promise<{ chunk?: Uint8Array; done: boolean }> {
    if (this.#broken) throw new WorkerFailure(502, "the interpreter is gone");
    // Python blocks this thread; one turn of the event loop first lets the
    // server write the chunks already produced.
    await new Promise((resolve) => setTimeout(resolve, 0));
    try {
      const result = await this.#host.next(id);
      if (result.done) {
        this.#checkMemory();
        this.#ended(id);
      }
      return result;
    } catch (error) {
      throw this.#failure(id, error, "the application failed mid-response");
    }
  }

  close(id: number): void {
    if (!this.#broken) this.#host.close(id);
    this.#ended(id);
  }

  cancel(_id: number): Promise<boolean> {
    // Requests are never handed to the embedded worker ahead of time.
    return Promise.resolve(false);
  }

  interrupt(): void {
    // Python runs on this very thread: nothing can interrupt it from here.
  }

  abort(id: number): void {
    if (!this.#broken) this.#host.abort(id);
  }

  stop(): void {
    this.#stopped = true;
    // A request still suspended inside Python (in recv(), say) cannot be
    // closed: its iterable does not exist yet.
    for (const id of [...this.#open.keys()]) {
      if (this.#answering.has(id)) this.close(id);
      else this.#ended(id);
    }
    // Nothing resumes it now, and its sockets would stay open for good.
    this.#host.halt();
    // Python of this interpreter that wakes up all the same stops at once.
    if (this.#words) Atomics.store(this.#words, 0, 2);
    this.#watchdog?.terminate();
  }
}
