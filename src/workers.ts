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
import { encodeFrame, readFrames } from "./frames.ts";
import { log, type LogLevel } from "./logging.ts";
import type { WatchdogSetup } from "./watchdog_main.ts";

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
    /** Sent ahead, behind a running request: main may still take it back. */
    pipelined?: boolean;
  }
  | { t: "body"; id: number; chunk?: Uint8Array }
  | { t: "next"; id: number }
  | { t: "close"; id: number }
  | { t: "cancel"; id: number }
  /** Ends a request where it waits (threads > 1): see InterpreterHost.abort. */
  | { t: "abort"; id: number }
  | { t: "interrupt" };

/** Messages from a worker to the pool. */
export type FromWorker =
  | { t: "thread"; tid?: number }
  | { t: "ready"; failed: string[] }
  | { t: "loaded"; mountId: string; ok: boolean }
  | { t: "log"; level: LogLevel; message: string; mount?: string }
  | { t: "head"; id: number; head: ResponseHead }
  | { t: "chunk"; id: number; chunk?: Uint8Array; done: boolean }
  | { t: "pull"; id: number }
  | { t: "failed"; id: number; loading: boolean }
  | { t: "cancelled"; id: number; ok: boolean }
  | { t: "skipped"; id: number }
  | { t: "fatal"; reason: string }
  | { t: "exit"; reason: string };

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
  /** True when the request never started: another slot may run it. */
  readonly retry: boolean;
  constructor(status: number, message: string, retry = false) {
    super(message);
    this.name = "SlotFailure";
    this.status = status;
    this.retry = retry;
  }
}

/** A request handed to a slot: its id, and its head once it has one. */
export interface SlotRequest {
  /** Names the request in next(), close() and cancel(). */
  readonly id: number;
  /** The response head; rejects with SlotFailure. */
  readonly head: Promise<ResponseHead>;
}

/** A place that runs one request at a time. */
export interface Slot {
  /** Settles when the slot has started and loaded its mounts. */
  readonly ready: Promise<void>;
  /** Called when the slot dies on its own (a crash, not terminate()). */
  onExit?: (reason: string) => void;
  /**
   * Called when a terminated slot could not be stopped and keeps burning a
   * CPU core (a Web Worker stuck where Python cannot be interrupted).
   */
  onStuck?: (cpuMsPerSecond: number) => void;
  /**
   * Called when a mount's script failed to load in this slot, or loaded:
   * at start, when a mount is added, and when a request retried the load.
   */
  onLoad?: (mountId: string, ok: boolean) => void;
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
  ): SlotRequest;
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
  /** Raises KeyboardInterrupt in running Python, where the slot can. */
  interrupt(): void;
  /**
   * Ends one request where it waits on a socket, a lock or a sleep (groups
   * with threads), leaving the others running.
   */
  abort(id: number): void;
  /** Stops the slot for good. */
  terminate(): void;
  /** Resident memory of the slot's own process in bytes, if it has one. */
  rss?(): number | undefined;
}

/**
 * The fate of a pipelined request is one shared word, so that the server
 * can take the request back while Python keeps the worker's thread busy
 * (a word per request, FATE_WORDS of them per worker): `id + 1` while it
 * waits, `-(id + 1)` once taken back; the worker swaps `id + 1` for 0 when
 * it starts it. Whoever swaps first decides.
 */
export function claimPipelined(flags: SharedArrayBuffer, id: number): void {
  Atomics.store(new Int32Array(flags), fateIndex(id), id + 1);
}

/** Words after the interrupt flag, one per request a worker may hold. */
const FATE_WORDS = 8;

/** The flags buffer: the interrupt flag, then the fate words. */
export function createFlags(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (1 + FATE_WORDS));
}

function fateIndex(id: number): number {
  return 1 + id % FATE_WORDS;
}

/** Takes back a pipelined request; false when the worker started it. */
export function cancelPipelined(flags: SharedArrayBuffer, id: number): boolean {
  const word = new Int32Array(flags);
  const index = fateIndex(id);
  return Atomics.compareExchange(word, index, id + 1, -(id + 1)) === id + 1;
}

/** The worker's side: true when it may start the request, false to skip it. */
export function startPipelined(flags: SharedArrayBuffer, id: number): boolean {
  const word = new Int32Array(flags);
  const index = fateIndex(id);
  const fate = Atomics.compareExchange(word, index, id + 1, 0);
  if (fate !== -(id + 1)) return true;
  Atomics.store(word, index, 0);
  return false;
}

/** How a WorkerSlot reaches its worker: a thread or a child process. */
interface Channel {
  send(message: ToWorker, transfer: Transferable[]): void;
  /** Takes back a pipelined request that has not started. */
  cancel(id: number): Promise<boolean>;
  interrupt(): void;
  /** Stops the worker; no more events after this. */
  kill(): void;
  onmessage?: (message: FromWorker) => void;
  /** The worker died on its own. */
  onexit?: (reason: string) => void;
}

const WORKER_URL = new URL("./worker_main.ts", import.meta.url);
const PROCESS_URL = new URL("./process_main.ts", import.meta.url);
const WATCHDOG_URL = new URL("./watchdog_main.ts", import.meta.url);

/** Where a Web Worker's thread shows in /proc (Linux). */
function threadCpuMs(tid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime, fields 14 and 15 of stat, in clock ticks (1/100 s).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined; // the thread is gone (or this is not Linux)
  }
}

/**
 * A Web Worker in the server's process. terminate() cannot stop one that
 * is busy in a loop (Deno 2.9), so after kill() the thread is watched, and
 * one that keeps burning CPU is reported through onStuck.
 */
class ThreadChannel implements Channel {
  onmessage?: (message: FromWorker) => void;
  onexit?: (reason: string) => void;
  onStuck?: (cpuMsPerSecond: number) => void;
  readonly #worker: Worker;
  /** The interrupt flag, then the fates of pipelined requests. */
  readonly #flag = createFlags();
  #tid?: number;
  #busy = false;

  constructor(group: string) {
    this.#worker = new Worker(WORKER_URL, {
      type: "module",
      name: `wsgi:${group}`,
    });
    this.#worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.t === "thread") this.#tid = message.tid;
      this.onmessage?.(message);
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.onexit?.(`the worker crashed: ${event.message}`);
    };
    this.#worker.onmessageerror = () =>
      this.onexit?.("a message could not be read");
  }

  send(message: ToWorker, transfer: Transferable[]): void {
    if (message.t === "init") message.interrupt = this.#flag;
    if (message.t === "begin") {
      this.#busy = true;
      if (message.pipelined) claimPipelined(this.#flag, message.id);
    }
    this.#worker.postMessage(message, transfer);
  }

  cancel(id: number): Promise<boolean> {
    return Promise.resolve(cancelPipelined(this.#flag, id));
  }

  /** Marks the end of a request, so kill() knows whether to watch. */
  idle(): void {
    this.#busy = false;
  }

  interrupt(): void {
    const flag = new Int32Array(this.#flag);
    Atomics.store(flag, 0, 2);
    // Wakes a time.sleep() waiting on the same flag (see interpreters.ts).
    Atomics.notify(flag, 0);
  }

  kill(): void {
    this.onmessage = undefined;
    this.onexit = undefined;
    // Wakes a sleep (Atomics.wait), which terminate() alone would not end.
    this.interrupt();
    this.#worker.terminate();
    if (this.#busy && this.#tid !== undefined) this.#watch(this.#tid);
  }

  #watch(tid: number): void {
    // The thread may take a moment to notice terminate(); measure after.
    const first = setTimeout(() => {
      const start = threadCpuMs(tid);
      if (start === undefined) return;
      const second = setTimeout(() => {
        const end = threadCpuMs(tid);
        if (end === undefined) return;
        const used = end - start;
        if (used > 500) this.onStuck?.(used);
      }, 1000);
      Deno.unrefTimer(second);
    }, 1000);
    Deno.unrefTimer(first);
  }
}

/**
 * A child process (src/process_main.ts) that runs the Web Worker and relays
 * its messages over stdin/stdout. Killing it ends Python wherever it is
 * stuck, and gives its memory back to the system.
 */
class ProcessChannel implements Channel {
  onmessage?: (message: FromWorker) => void;
  onexit?: (reason: string) => void;
  readonly #child: Deno.ChildProcess;
  readonly #input: WritableStreamDefaultWriter<Uint8Array>;
  #writing: Promise<void> = Promise.resolve();
  #exitReason?: string;
  #killed = false;
  readonly #cancels = new Map<number, (ok: boolean) => void>();

  constructor(group: string, permissions: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", ...permissions, PROCESS_URL.href],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#input = this.#child.stdin.getWriter();
    this.#readMessages();
    this.#readErrors(group);
    this.#child.status.then((status) => {
      if (this.#killed) return;
      const how = status.signal
        ? `was killed by ${status.signal}`
        : `exited with code ${status.code}`;
      this.onexit?.(
        this.#exitReason ?? `the worker process ${how}`,
      );
    });
  }

  /** The child's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  async #readMessages(): Promise<void> {
    try {
      for await (const frame of readFrames(this.#child.stdout)) {
        const message = frame as FromWorker;
        if (message.t === "exit") this.#exitReason = message.reason;
        else if (message.t === "cancelled") {
          this.#cancels.get(message.id)?.(message.ok);
          this.#cancels.delete(message.id);
        } else this.onmessage?.(message);
      }
    } catch {
      // The pipe broke: the exit status tells what happened.
    }
  }

  async #readErrors(group: string): Promise<void> {
    // What Pyodide or Deno print outside the protocol (fatal errors, panics).
    try {
      let pending = "";
      for await (
        const text of this.#child.stderr.pipeThrough(new TextDecoderStream())
      ) {
        pending += text;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) {
          if (line.trim()) log("error", line, { group });
        }
      }
      if (pending.trim()) log("error", pending, { group });
    } catch {
      // The pipe broke with the process: nothing more to read.
    }
  }

  send(message: ToWorker, _transfer: Transferable[]): void {
    if (this.#killed) return;
    const frame = encodeFrame(message);
    this.#writing = this.#writing.then(() => this.#input.write(frame)).catch(
      () => {
        // The process is gone; its exit status reports why.
      },
    );
  }

  interrupt(): void {
    this.send({ t: "interrupt" }, []);
  }

  /** The child's main thread swaps the word; it answers with "cancelled". */
  cancel(id: number): Promise<boolean> {
    if (this.#killed) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.#cancels.set(id, resolve);
      this.send({ t: "cancel", id }, []);
    });
  }

  kill(): void {
    if (this.#killed) return;
    this.#killed = true;
    for (const resolve of this.#cancels.values()) resolve(false);
    this.#cancels.clear();
    this.onmessage = undefined;
    this.onexit = undefined;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    this.#input.close().catch(() => {});
  }

  /** The child's resident memory, from /proc (Linux). */
  rss(): number | undefined {
    try {
      const status = Deno.readTextFileSync(`/proc/${this.#child.pid}/status`);
      const kb = Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1]);
      return Number.isFinite(kb) ? kb * 1024 : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Where a pool's workers run: a Web Worker thread, or a child process. */
export type Isolation = "thread" | "process";

/** Options of a WorkerSlot. */
export interface WorkerSlotOptions {
  /** Thread (Web Worker in this process) or child process. Default "thread". */
  isolation?: Isolation;
  /** Deno permission flags of a child process. */
  permissions?: string[];
}

/** A worker with its own Pyodide interpreters: a Web Worker or a child process. */
export class WorkerSlot implements Slot {
  readonly ready: Promise<void>;
  onExit?: (reason: string) => void;
  onStuck?: (cpuMsPerSecond: number) => void;
  onLoad?: (mountId: string, ok: boolean) => void;
  onDropped?: (id: number) => void;
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
  #dead = false;

  constructor(
    settings: InterpreterSettings,
    mounts: MountSpec[],
    options: WorkerSlotOptions = {},
  ) {
    this.#group = settings.group;
    this.#threads = Math.max(1, settings.threads);
    if (options.isolation === "process") {
      this.#channel = new ProcessChannel(
        settings.group,
        options.permissions ?? [],
      );
    } else {
      const thread = new ThreadChannel(settings.group);
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
        case "fatal":
        case "exit":
          this.#die(message.reason);
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
    this.#channel.onexit = (reason) => {
      this.#die(reason);
      failed(new Error(reason));
    };
    this.#channel.send(
      {
        t: "init",
        settings,
        mounts,
        // Each channel puts in its own flag (a child process has its own).
        interrupt: new SharedArrayBuffer(4),
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
          ? new SlotFailure(status, reason)
          : new SlotFailure(503, reason, true),
      );
    }
    this.#waiting.clear();
    this.#inFlight.length = 0;
    this.#streaming.clear();
  }

  #die(reason: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#channel.kill();
    this.#failAll(502, reason);
    this.onExit?.(reason);
  }

  async #sendBodyChunk(id: number): Promise<void> {
    const chunk = await readBodyBatch(this.#streaming.get(id)!);
    if (this.#streaming.has(id) && !this.#dead) {
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
    if (this.#dead) {
      return Promise.reject(new SlotFailure(502, "the worker is gone"));
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
    if (!this.#dead) this.#channel.send({ t: "load", spec }, []);
  }

  start(
    spec: MountSpec,
    cgi: string,
    body: RequestBody,
    pipelined = false,
  ): SlotRequest {
    const id = this.#nextId++;
    if (body.kind === "stream") this.#streaming.set(id, body.reader);
    if (!this.#dead) this.#inFlight.push(id);
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
      throw new SlotFailure(500, "the application failed; see the log");
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
    throw new SlotFailure(500, "the application failed mid-response");
  }

  close(id: number): void {
    if (!this.#dead) this.#channel.send({ t: "close", id }, []);
    this.#finished(id);
  }

  cancel(id: number): Promise<boolean> {
    if (this.#dead || !this.#inFlight.includes(id)) {
      return Promise.resolve(false);
    }
    return this.#channel.cancel(id);
  }

  interrupt(): void {
    if (!this.#dead) this.#channel.interrupt();
  }

  abort(id: number): void {
    if (!this.#dead) this.#channel.send({ t: "abort", id }, []);
  }

  terminate(): void {
    this.#dead = true;
    this.#failAll(503, "the worker was stopped");
    this.#channel.kill();
  }

  rss(): number | undefined {
    return this.#channel instanceof ProcessChannel
      ? this.#channel.rss()
      : undefined;
  }
}

/**
 * Embedded mode: the interpreters live in the server's own isolate, as in
 * mod_wsgi's embedded mode. Python blocks the event loop while it runs.
 */
export class EmbeddedSlot implements Slot {
  readonly ready: Promise<void>;
  onExit?: (reason: string) => void;
  onLoad?: (mountId: string, ok: boolean) => void;
  readonly #host: InterpreterHost;
  #dead = false;
  /** Shared with the watchdog: see src/watchdog_main.ts. */
  readonly #words?: Int32Array;
  readonly #base = Date.now();
  readonly #watchdog?: Worker;
  #nextId = 0;
  /** Requests begun and not ended. */
  readonly #open = new Set<number>();

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
   * replaces the slot, which means a fresh Pyodide in this same isolate.
   */
  #fatal(error: unknown): boolean {
    if (!(error instanceof ApplicationError && error.fatal)) return false;
    if (!this.#dead) {
      this.#dead = true;
      this.onExit?.("the Python interpreter suffered a fatal error");
    }
    return true;
  }

  load(spec: MountSpec): void {
    this.#load(spec);
  }

  start(spec: MountSpec, cgi: string, body: RequestBody): SlotRequest {
    // Never pipelined: Python runs on this thread, there is no "ahead".
    const id = this.#nextId++;
    this.#open.add(id);
    return { id, head: this.#begin(spec, id, cgi, body) };
  }

  async #begin(
    spec: MountSpec,
    id: number,
    cgi: string,
    body: RequestBody,
  ): Promise<ResponseHead> {
    if (this.#dead) throw new SlotFailure(502, "the interpreter is gone");
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
      if (head.done) this.#ended(id);
      this.onLoad?.(spec.id, true);
      return head;
    } catch (error) {
      const interrupted = this.#ended(id);
      if (this.#fatal(error)) {
        throw new SlotFailure(502, "the Python interpreter failed");
      }
      if (interrupted) throw new SlotFailure(504, "request timeout");
      if (error instanceof ApplicationError) {
        this.onLoad?.(spec.id, !error.loading);
        throw new SlotFailure(500, "the application failed; see the log");
      }
      throw error;
    }
  }

  /** A request is over; true when the watchdog interrupted it. */
  #ended(id: number): boolean {
    this.#open.delete(id);
    return this.#clockOff();
  }

  async next(id: number): Promise<{ chunk?: Uint8Array; done: boolean }> {
    // Python blocks this thread; one turn of the event loop first lets the
    // server write the chunks already produced.
    await new Promise((resolve) => setTimeout(resolve, 0));
    try {
      const result = await this.#host.next(id);
      if (result.done) this.#ended(id);
      return result;
    } catch (error) {
      const interrupted = this.#ended(id);
      if (this.#fatal(error)) {
        throw new SlotFailure(502, "the Python interpreter failed");
      }
      if (interrupted) throw new SlotFailure(504, "request timeout");
      if (error instanceof ApplicationError) {
        throw new SlotFailure(500, "the application failed mid-response");
      }
      throw error;
    }
  }

  close(id: number): void {
    this.#host.close(id);
    this.#ended(id);
  }

  cancel(_id: number): Promise<boolean> {
    // Requests are never handed to the embedded slot ahead of time.
    return Promise.resolve(false);
  }

  interrupt(): void {
    // Python runs on this very thread: nothing can interrupt it from here.
  }

  abort(id: number): void {
    this.#host.abort(id);
  }

  terminate(): void {
    this.#dead = true;
    for (const id of [...this.#open]) this.close(id);
    this.#watchdog?.terminate();
  }
}
