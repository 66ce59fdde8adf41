/**
 * A worker with its own Pyodide interpreters, as a Web Worker or a child
 * process: mod_wsgi's daemon process.
 *
 * @module
 */

import type { MountSpec } from "./config.ts";
import { ProcessChannel, ThreadChannel } from "./channels.ts";
import { log } from "./logging.ts";
import type {
  FromWorker,
  InterpreterSettings,
  RecycleCause,
  ToWorker,
} from "./protocol.ts";
import { readBodyBatch, type RequestBody } from "./request_body.ts";
import {
  type PythonWorker,
  WorkerFailure,
  type WorkerRequest,
} from "./worker.ts";
import { compiledPyodide } from "./compiled_pyodide.ts";

/** Where a pool's workers run: a Web Worker thread, or a child process. */
export type Isolation = "thread" | "process";

/** Options of a ChannelWorker. */
export interface ChannelWorkerOptions {
  /** Thread (Web Worker in this process) or child process. Default "thread". */
  isolation?: Isolation;
  /** Deno permission flags of a child process. */
  permissions?: string[];
  /** A Web Worker's permissions (undefined: the server's). */
  threadPermissions?: Deno.PermissionOptions;
}

/** A worker with its own Pyodide interpreters: a Web Worker or a child process. */
export class ChannelWorker implements PythonWorker {
  readonly ready: Promise<void>;
  onStop?: (reason: string) => void;
  onStuck?: (cpuMsPerSecond: number) => void;
  onLoad?: (mountId: string, ok: boolean) => void;
  onDropped?: (id: number) => void;
  onRecycle?: (reason: string, cause: RecycleCause) => void;
  readonly #channel: ThreadChannel | ProcessChannel;
  readonly #group: string;
  #nextId = 0;
  /** Requests handed over and not finished, in order: the first runs. */
  readonly #inFlight: number[] = [];
  /** Who waits for each request's next reply. */
  readonly #waiting = new Map<number, {
    resolve: (value: FromWorker) => void;
    reject: (error: Error) => void;
  }>();
  /** The readers of requests whose bodies stream, by request id. */
  readonly #streaming = new Map<
    number,
    ReadableStreamDefaultReader<Uint8Array>
  >();
  /** Requests the worker runs at once (the group's threads). */
  readonly #threads: number;
  #stopped = false;

  constructor(
    settings: InterpreterSettings,
    mounts: MountSpec[],
    options: ChannelWorkerOptions = {},
  ) {
    this.#group = settings.group;
    this.#threads = Math.max(1, settings.threads);
    if (options.isolation === "process") {
      this.#channel = new ProcessChannel(
        settings.group,
        options.permissions ?? [],
      );
    } else {
      const thread = new ThreadChannel(
        settings.group,
        options.threadPermissions,
      );
      thread.onStuck = (cpu) => this.onStuck?.(cpu);
      this.#channel = thread;
    }
    let started!: () => void;
    let failed!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    this.ready.catch(() => {});
    this.#channel.onmessage = (message) => {
      switch (message.t) {
        case "thread":
          return;
        case "ready":
          for (const id of message.failed) this.onLoad?.(id, false);
          started();
          return;
        case "loaded":
          this.onLoad?.(message.mountId, message.ok);
          return;
        case "log":
          log(message.level, message.message, {
            mount: message.mount,
            group: this.#group,
          });
          return;
        case "pull":
          if (this.#streaming.has(message.id)) {
            this.#sendBodyChunk(message.id);
          }
          return;
        case "recycle":
          this.onRecycle?.(message.reason, message.cause);
          return;
        case "fatal":
        case "exit":
          this.#stoppedItself(message.reason);
          failed(new Error(message.reason));
          return;
        case "skipped":
          this.#waiting.delete(message.id);
          this.#finished(message.id);
          this.onDropped?.(message.id);
          return;
        default: {
          const waiting = this.#waiting.get(message.id);
          if (waiting) {
            this.#waiting.delete(message.id);
            waiting.resolve(message);
          }
        }
      }
    };
    this.#channel.onstop = (reason) => {
      this.#stoppedItself(reason);
      failed(new Error(reason));
    };
    this.#channel.send(
      {
        t: "init",
        settings,
        mounts,
        // Each channel puts in its own flag (a child process has its own).
        interrupt: new SharedArrayBuffer(4),
        // Web Workers share the server's compiled code; a pipe cannot.
        code: options.isolation === "process" ? undefined : compiledPyodide(),
      } satisfies ToWorker,
      [],
    );
  }

  /**
   * Fails every request in flight: the running one with `status`, those
   * that had not started yet with a retry, so that the pool runs them on
   * another worker.
   */
  #failAll(status: number, reason: string): void {
    const running = new Set(this.#inFlight.slice(0, this.#threads));
    for (const [id, waiting] of this.#waiting) {
      waiting.reject(
        running.has(id)
          ? new WorkerFailure(status, reason)
          : new WorkerFailure(503, reason, true),
      );
    }
    this.#waiting.clear();
    this.#inFlight.length = 0;
    this.#streaming.clear();
  }

  /** The worker stopped on its own: its requests fail, the pool is told. */
  #stoppedItself(reason: string): void {
    if (this.#stopped) return;
    this.#stop(502, reason);
    this.onStop?.(reason);
  }

  #stop(status: number, reason: string): void {
    this.#stopped = true;
    this.#failAll(status, reason);
    this.#channel.stop();
  }

  async #sendBodyChunk(id: number): Promise<void> {
    let chunk: Uint8Array | undefined;
    try {
      chunk = await readBodyBatch(this.#streaming.get(id)!);
    } catch (error) {
      if (this.#streaming.has(id) && !this.#stopped) {
        const message = (error as Error).message;
        this.#channel.send({ t: "body", id, error: message }, []);
      }
      return;
    }
    if (this.#streaming.has(id) && !this.#stopped) {
      this.#channel.send(
        { t: "body", id, chunk } satisfies ToWorker,
        chunk && chunk.buffer instanceof ArrayBuffer &&
          chunk.byteLength === chunk.buffer.byteLength
          ? [chunk.buffer]
          : [],
      );
    }
  }

  #ask(id: number, message: ToWorker): Promise<FromWorker> {
    if (this.#stopped) {
      return Promise.reject(new WorkerFailure(502, "the worker is gone"));
    }
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#channel.send(message, []);
    });
  }

  /** The request is over: the next one in the worker runs now. */
  #finished(id: number): void {
    const index = this.#inFlight.indexOf(id);
    if (index >= 0) this.#inFlight.splice(index, 1);
    this.#streaming.delete(id);
    if (this.#inFlight.length === 0 && this.#channel instanceof ThreadChannel) {
      this.#channel.idle();
    }
  }

  load(spec: MountSpec): void {
    if (!this.#stopped) this.#channel.send({ t: "load", spec }, []);
  }

  start(
    spec: MountSpec,
    cgi: string,
    body: RequestBody,
    pipelined = false,
  ): WorkerRequest {
    const id = this.#nextId++;
    if (body.kind === "stream") this.#streaming.set(id, body.reader);
    if (!this.#stopped) this.#inFlight.push(id);
    const head = this.#ask(id, {
      t: "begin",
      id,
      mountId: spec.id,
      cgi,
      body: body.kind === "stream"
        ? "stream"
        : body.kind === "bytes"
        ? body.data
        : null,
      pipelined,
    }).then((reply) => {
      if (reply.t === "head") {
        if (reply.head.done) this.#finished(id);
        this.onLoad?.(spec.id, true);
        return reply.head;
      }
      this.#finished(id);
      if (reply.t === "failed" && reply.loading) this.onLoad?.(spec.id, false);
      else this.onLoad?.(spec.id, true);
      throw new WorkerFailure(500, "the application failed; see the log");
    });
    return { id, head };
  }

  async next(id: number): Promise<{ chunk?: Uint8Array; done: boolean }> {
    const reply = await this.#ask(id, { t: "next", id });
    if (reply.t === "chunk") {
      if (reply.done) this.#finished(id);
      return reply;
    }
    this.#finished(id);
    throw new WorkerFailure(500, "the application failed mid-response");
  }

  close(id: number): void {
    if (!this.#stopped) this.#channel.send({ t: "close", id }, []);
    this.#finished(id);
  }

  cancel(id: number): Promise<boolean> {
    if (this.#stopped || !this.#inFlight.includes(id)) {
      return Promise.resolve(false);
    }
    return this.#channel.cancel(id);
  }

  interrupt(): void {
    if (!this.#stopped) this.#channel.interrupt();
  }

  abort(id: number): void {
    if (!this.#stopped) this.#channel.send({ t: "abort", id }, []);
  }

  stop(): void {
    this.#stop(503, "the worker was stopped");
  }

  rss(): number | undefined {
    return this.#channel instanceof ProcessChannel
      ? this.#channel.rss()
      : undefined;
  }
}
