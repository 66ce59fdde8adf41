/**
 * Slots: the places a pool runs requests. A slot is a Web Worker with its
 * own interpreters, or (embedded mode) the server's own isolate. Either way
 * it runs one request at a time.
 *
 * @module
 */

import type { MountSpec } from "./config.ts";
import {
  ApplicationError,
  type BodySource,
  type InterpreterSettings,
  type ResponseHead,
} from "./interpreters.ts";
import { InterpreterHost } from "./interpreters.ts";
import { log, type LogLevel } from "./logging.ts";

/** Messages from the pool to a worker. */
export type ToWorker =
  | {
    t: "init";
    settings: InterpreterSettings;
    mounts: MountSpec[];
    interrupt: SharedArrayBuffer;
  }
  | { t: "load"; spec: MountSpec }
  | {
    t: "begin";
    id: number;
    mountId: string;
    cgi: string;
    body: Uint8Array | "stream" | null;
  }
  | { t: "body"; id: number; chunk?: Uint8Array }
  | { t: "next"; id: number }
  | { t: "close"; id: number };

/** Messages from a worker to the pool. */
export type FromWorker =
  | { t: "ready" }
  | { t: "log"; level: LogLevel; message: string; mount?: string }
  | { t: "head"; id: number; head: ResponseHead }
  | { t: "chunk"; id: number; chunk?: Uint8Array; done: boolean }
  | { t: "pull"; id: number }
  | { t: "failed"; id: number; loading: boolean };

/** Bodies up to this size are read whole before Python starts: no suspending. */
const INLINE_BODY_LIMIT = 256 * 1024;

/** The request body, in the form a slot hands it over. */
export type RequestBody =
  | { kind: "none" }
  | { kind: "bytes"; data: Uint8Array }
  | { kind: "stream"; reader: ReadableStreamDefaultReader<Uint8Array> };

/** Reads a small body whole and leaves a large or chunked one to stream. */
export async function takeRequestBody(request: Request): Promise<RequestBody> {
  if (!request.body) return { kind: "none" };
  const length = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isFinite(length) && length <= INLINE_BODY_LIMIT) {
    return { kind: "bytes", data: new Uint8Array(await request.arrayBuffer()) };
  }
  return { kind: "stream", reader: request.body.getReader() };
}

/** How much request body one hand-over to Python carries at most. */
const BODY_BATCH_BYTES = 1024 * 1024;

/**
 * Reads request-body chunks until about BODY_BATCH_BYTES are in hand or the
 * body ends: each hand-over to Python costs a round trip, so fewer, larger
 * ones make uploads faster. Returns undefined at the end of the body; a
 * client that went away mid-upload also ends the body.
 */
export async function readBodyBatch(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<Uint8Array | undefined> {
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_BATCH_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
    }
  } catch {
    // The client went away: what arrived is all there is.
  }
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  const batch = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    batch.set(part, offset);
    offset += part.length;
  }
  return batch;
}

/** Why a slot could not produce a response head. */
export class SlotFailure extends Error {
  /** The HTTP status that tells the client best what happened. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "SlotFailure";
    this.status = status;
  }
}

/** A place that runs one request at a time. */
export interface Slot {
  /** Settles when the slot has started and loaded its mounts. */
  readonly ready: Promise<void>;
  /** Called when the slot dies on its own (a crash, not terminate()). */
  onExit?: (reason: string) => void;
  /** Loads one more mount's script. */
  load(spec: MountSpec): void;
  /** Runs a request to its first chunk; rejects with SlotFailure. */
  begin(
    spec: MountSpec,
    cgiJson: string,
    body: RequestBody,
  ): Promise<ResponseHead>;
  /** The next chunk of the running request. */
  next(): Promise<{ chunk?: Uint8Array; done: boolean }>;
  /** Closes the running request's iterable. */
  close(): void;
  /** Raises KeyboardInterrupt in running Python, where the slot can. */
  interrupt(): void;
  /** Stops the slot for good. */
  terminate(): void;
}

const WORKER_URL = new URL("./worker_main.ts", import.meta.url);

/** A Web Worker with its own Pyodide interpreters. */
export class WorkerSlot implements Slot {
  readonly ready: Promise<void>;
  onExit?: (reason: string) => void;
  readonly #worker: Worker;
  readonly #interrupt = new SharedArrayBuffer(4);
  readonly #group: string;
  #nextId = 0;
  #id = -1;
  #waiting?: {
    resolve: (value: FromWorker) => void;
    reject: (error: Error) => void;
  };
  #reader?: ReadableStreamDefaultReader<Uint8Array>;
  #dead = false;

  constructor(settings: InterpreterSettings, mounts: MountSpec[]) {
    this.#group = settings.group;
    this.#worker = new Worker(WORKER_URL, {
      type: "module",
      name: `wsgi:${settings.group}`,
    });
    let started!: () => void;
    let failed!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    this.ready.catch(() => {});
    this.#worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      switch (message.t) {
        case "ready":
          started();
          return;
        case "log":
          log(message.level, message.message, {
            mount: message.mount,
            group: this.#group,
          });
          return;
        case "pull":
          if (message.id === this.#id) this.#sendBodyChunk(message.id);
          return;
        default:
          if (message.id === this.#id && this.#waiting) {
            const waiting = this.#waiting;
            this.#waiting = undefined;
            waiting.resolve(message);
          }
      }
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#die(`the worker crashed: ${event.message}`);
      failed(new Error(event.message));
    };
    this.#worker.onmessageerror = () =>
      this.#die("a message could not be read");
    this.#worker.postMessage(
      {
        t: "init",
        settings,
        mounts,
        interrupt: this.#interrupt,
      } satisfies ToWorker,
    );
  }

  #die(reason: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#worker.terminate();
    this.#waiting?.reject(new SlotFailure(502, reason));
    this.#waiting = undefined;
    this.onExit?.(reason);
  }

  async #sendBodyChunk(id: number): Promise<void> {
    const chunk = await readBodyBatch(this.#reader!);
    if (id === this.#id && !this.#dead) {
      this.#worker.postMessage(
        { t: "body", id, chunk } satisfies ToWorker,
        chunk && chunk.buffer instanceof ArrayBuffer &&
          chunk.byteLength === chunk.buffer.byteLength
          ? [chunk.buffer]
          : [],
      );
    }
  }

  #ask(message: ToWorker): Promise<FromWorker> {
    if (this.#dead) {
      return Promise.reject(new SlotFailure(502, "the worker is gone"));
    }
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#worker.postMessage(message);
    });
  }

  load(spec: MountSpec): void {
    if (!this.#dead) this.#worker.postMessage({ t: "load", spec });
  }

  async begin(
    spec: MountSpec,
    cgiJson: string,
    body: RequestBody,
  ): Promise<ResponseHead> {
    const id = this.#id = this.#nextId++;
    this.#reader = body.kind === "stream" ? body.reader : undefined;
    const reply = await this.#ask({
      t: "begin",
      id,
      mountId: spec.id,
      cgi: cgiJson,
      body: body.kind === "stream"
        ? "stream"
        : body.kind === "bytes"
        ? body.data
        : null,
    });
    if (reply.t === "head") return reply.head;
    throw new SlotFailure(500, "the application failed; see the log");
  }

  async next(): Promise<{ chunk?: Uint8Array; done: boolean }> {
    const reply = await this.#ask({ t: "next", id: this.#id });
    if (reply.t === "chunk") return reply;
    throw new SlotFailure(500, "the application failed mid-response");
  }

  close(): void {
    if (!this.#dead) this.#worker.postMessage({ t: "close", id: this.#id });
  }

  interrupt(): void {
    const flag = new Int32Array(this.#interrupt);
    Atomics.store(flag, 0, 2);
    // Wakes a time.sleep() waiting on the same flag (see interpreters.ts).
    Atomics.notify(flag, 0);
  }

  terminate(): void {
    this.#dead = true;
    this.#waiting?.reject(new SlotFailure(503, "the worker was stopped"));
    this.#waiting = undefined;
    this.#worker.terminate();
  }
}

/**
 * Embedded mode: the interpreters live in the server's own isolate, as in
 * mod_wsgi's embedded mode. Python blocks the event loop while it runs.
 */
export class EmbeddedSlot implements Slot {
  readonly ready: Promise<void>;
  onExit?: (reason: string) => void;
  readonly #host: InterpreterHost;

  constructor(settings: InterpreterSettings, mounts: MountSpec[]) {
    this.#host = new InterpreterHost(
      settings,
      (level, message, mount) =>
        log(level, message, { mount, group: settings.group }),
    );
    this.ready = Promise.all(
      mounts.map((spec) => this.#host.load(spec).catch(() => {})),
    ).then(() => {});
  }

  load(spec: MountSpec): void {
    this.#host.load(spec).catch(() => {});
  }

  async begin(
    spec: MountSpec,
    cgiJson: string,
    body: RequestBody,
  ): Promise<ResponseHead> {
    let source: BodySource;
    if (body.kind === "stream") {
      const reader = body.reader;
      source = { kind: "stream", read: () => readBodyBatch(reader) };
    } else {
      source = body;
    }
    try {
      return await this.#host.begin(spec, cgiJson, source);
    } catch (error) {
      if (error instanceof ApplicationError) {
        throw new SlotFailure(500, "the application failed; see the log");
      }
      throw error;
    }
  }

  async next(): Promise<{ chunk?: Uint8Array; done: boolean }> {
    // Python blocks this thread; one turn of the event loop first lets the
    // server write the chunks already produced.
    await new Promise((resolve) => setTimeout(resolve, 0));
    try {
      return await this.#host.next();
    } catch (error) {
      if (error instanceof ApplicationError) {
        throw new SlotFailure(500, "the application failed mid-response");
      }
      throw error;
    }
  }

  close(): void {
    this.#host.close();
  }

  interrupt(): void {
    // Python runs on this very thread: nothing can interrupt it from here.
  }

  terminate(): void {
    this.#host.close();
  }
}
