/**
 * Entry point of a pool's Web Worker: hosts the group's Pyodide interpreters
 * and answers the pool's messages (see protocol.ts).
 *
 * @module
 */

import { InterpreterHost } from "./interpreters.ts";
import { ApplicationError } from "./request_calls.ts";
import {
  type BodySource,
  type FromWorker,
  startPipelined,
  type ToWorker,
} from "./protocol.ts";
import type { MountSpec } from "./config.ts";
import process from "node:process";
import { adoptCompiledPyodide } from "./compiled_pyodide.ts";
import { FrameWriter, readFramesFrom, writeAll } from "./frames.ts";

/**
 * This Web Worker's global scope. Typed here rather than with
 * `/// <reference lib="deno.worker" />`, which JSR refuses in a published
 * module (it would change the global types of every importer).
 */
const scope = self as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  close(): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
};

// Pyodide turns a host file error into an OSError only when the error has
// an errno-style `code`; Deno's permission errors have none, so a write the
// worker may not do would be a fatal Pyodide error that kills the worker.
// With a code it is a PermissionError the app can catch.
if (!("code" in Deno.errors.NotCapable.prototype)) {
  Object.defineProperty(Deno.errors.NotCapable.prototype, "code", {
    value: "EACCES",
  });
}

let host: InterpreterHost | undefined;
/** Shared with the server: the interrupt flag, and pipelined requests' fate. */
let flags: SharedArrayBuffer | undefined;
const mounts = new Map<string, MountSpec>();
/** Who waits for the next chunk of each streaming request body. */
const bodyWaiters = new Map<
  number,
  {
    resolve: (chunk: Uint8Array | undefined) => void;
    reject: (error: Error) => void;
  }
>();
type BeginMessage = Extract<ToWorker, { t: "begin" }>;
/**
 * The requests running now: one, or up to the group's `threads`, which
 * interleave where they wait (Python runs one at a time).
 */
const running = new Set<number>();
let capacity = 1;
/** Requests handed over while the running ones ran (pipelining), in order. */
const waiting: BeginMessage[] = [];

/**
 * In a worker process, the frames out on the server's socket for this
 * worker's requests (init's `socket`), which this thread reads and writes
 * itself: relayed by the process's main thread, each message would cost
 * that thread a decode, a copy across threads and an encode each way. A
 * lost frame means the server is gone; the control socket's end then ends
 * the process.
 */
let output: FrameWriter | undefined;

function post(message: FromWorker, transfer: Transferable[] = []): void {
  if (output) output.send(message);
  else scope.postMessage(message, transfer);
}

/** Reads the server's messages from the requests' socket until it ends. */
async function readRequests(from: Deno.Conn): Promise<void> {
  try {
    for await (const frame of readFramesFrom(from)) {
      receive(frame as ToWorker);
    }
  } catch {
    // The server is gone; the control socket's end ends this process.
  }
}

/**
 * Before a reply that may end a request: asks the pool to recycle this
 * worker when its heap passed memoryLimit, Python ran out of memory, or
 * its thread used cpuTimeLimit, so that the pool knows before it hands
 * the worker another request.
 */
function checkRecycle(): void {
  const reason = host?.recycleReason();
  if (reason) post({ t: "recycle", reason, cause: "memory" });
  else checkCpu();
}

/** The group's cpuTimeLimit in seconds (0: none), from init. */
let cpuTimeLimit = 0;
/** Set once this worker has asked to go for its CPU time. */
let cpuSpent = false;

/**
 * cpuTimeLimit (mod_wsgi's `cpu-time-limit=`, which Apache enforces with
 * RLIMIT_CPU): the CPU time of this thread, the one Python runs on, read
 * as each request ends; a request that runs away meets requestTimeout.
 */
function checkCpu(): void {
  if (cpuTimeLimit === 0 || cpuSpent) return;
  const { user, system } = process.threadCpuUsage();
  const seconds = (user + system) / 1e6;
  if (seconds < cpuTimeLimit) return;
  cpuSpent = true;
  post({
    t: "recycle",
    reason: `cpuTimeLimit (${cpuTimeLimit} s) reached: ${
      seconds.toFixed(1)
    } s of CPU`,
    cause: "cpu",
  });
}

/**
 * After a fatal error (an abort() in C, a wasm trap) Pyodide's memory can
 * no longer be trusted, whatever it still answers: say so, and stop, so
 * that the pool replaces this worker.
 */
function fatal(error: unknown): boolean {
  if (!(error instanceof ApplicationError && error.fatal)) return false;
  post({
    t: "fatal",
    reason: `the Python interpreter suffered a fatal error: ${
      error.message.split("\n").at(-1)
    }`,
  });
  // Over the socket the message is still being written: close after it.
  (output?.flushed ?? Promise.resolve()).finally(() => scope.close());
  return true;
}

/** The id of this thread in /proc, so the pool can see if it outlives terminate(). */
function threadId(): number | undefined {
  try {
    return Number(Deno.readLinkSync("/proc/thread-self").split("/").at(-1));
  } catch {
    return undefined; // not Linux, or no read permission on /proc
  }
}

function ownBuffer(chunk: Uint8Array | undefined): Transferable[] {
  return chunk && chunk.buffer instanceof ArrayBuffer &&
      chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength
    ? [chunk.buffer]
    : [];
}

/** Takes a request that has not started out of the queue. */
function drop(id: number): boolean {
  const index = waiting.findIndex((message) => message.id === id);
  if (index < 0) return false;
  waiting.splice(index, 1);
  return true;
}

/** A running request is over: the next one waiting starts. */
function finished(id: number): void {
  bodyWaiters.delete(id);
  if (!running.delete(id)) return;
  runNext();
}

function runNext(): void {
  while (running.size < capacity) {
    let message = waiting.shift();
    // The server took back a request that waited too long here.
    while (message?.pipelined && !startPipelined(flags!, message.id)) {
      post({ t: "skipped", id: message.id });
      message = waiting.shift();
    }
    if (!message) return;
    running.add(message.id);
    begin(message).catch((error) => {
      post({
        t: "log",
        level: "error",
        message: `worker error: ${error?.stack ?? error}`,
      });
    });
  }
}

async function begin(message: BeginMessage): Promise<void> {
  const spec = mounts.get(message.mountId)!;
  let body: BodySource;
  if (message.body === "stream") {
    const id = message.id;
    body = {
      kind: "stream",
      read: () =>
        new Promise((resolve, reject) => {
          bodyWaiters.set(id, { resolve, reject });
          post({ t: "pull", id });
        }),
    };
  } else if (message.body) {
    body = { kind: "bytes", data: message.body };
  } else {
    body = { kind: "none" };
  }
  try {
    const head = await host!.begin(spec, message.id, message.cgi, body);
    checkRecycle();
    post({ t: "head", id: message.id, head }, ownBuffer(head.chunk));
    if (head.done) finished(message.id);
  } catch (error) {
    if (fatal(error)) return;
    checkRecycle();
    post({
      t: "failed",
      id: message.id,
      loading: error instanceof ApplicationError && error.loading,
    });
    finished(message.id);
  }
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.t) {
    case "init": {
      if (message.socket !== undefined) {
        const connection = await Deno.connect({
          transport: "unix",
          path: message.socket,
        });
        output = new FrameWriter((piece) => writeAll(connection, piece));
        readRequests(connection);
      }
      post({ t: "thread", tid: threadId() });
      adoptCompiledPyodide(message.code);
      host = new InterpreterHost(
        message.settings,
        (level, text, mount) => post({ t: "log", level, message: text, mount }),
        { mounts: message.mounts },
      );
      flags = message.interrupt;
      cpuTimeLimit = message.settings.cpuTimeLimit ?? 0;
      capacity = Math.max(1, message.settings.threads);
      host.setInterruptBuffer(new Int32Array(message.interrupt, 0, 1));
      for (const spec of message.mounts) mounts.set(spec.id, spec);
      // Failures are logged by the host and answered per request with 500;
      // the pool learns which mounts failed, for startupTimeout.
      const failed: string[] = [];
      const errors: unknown[] = [];
      await Promise.all(
        message.mounts.map((spec) =>
          host!.load(spec).catch((error) => {
            failed.push(spec.id);
            errors.push(error);
          })
        ),
      );
      if (errors.some(fatal)) return;
      post({ t: "ready", failed });
      return;
    }
    case "load":
      mounts.set(message.spec.id, message.spec);
      await host!.load(message.spec).then(
        () => post({ t: "loaded", mountId: message.spec.id, ok: true }),
        (error) => {
          if (!fatal(error)) {
            post({ t: "loaded", mountId: message.spec.id, ok: false });
          }
        },
      );
      return;
    case "begin":
      waiting.push(message);
      runNext();
      return;
    case "body": {
      const waiter = bodyWaiters.get(message.id);
      bodyWaiters.delete(message.id);
      if (message.error !== undefined) {
        waiter?.reject(new Error(message.error));
      } else {
        waiter?.resolve(message.chunk);
      }
      return;
    }
    case "abort":
      host?.abort(message.id);
      return;
    case "next": {
      if (!running.has(message.id)) {
        post({ t: "chunk", id: message.id, done: true });
        return;
      }
      try {
        const { chunk, done } = await host!.next(message.id);
        if (done) checkRecycle();
        post({ t: "chunk", id: message.id, chunk, done }, ownBuffer(chunk));
        if (done) finished(message.id);
      } catch (error) {
        if (fatal(error)) return;
        checkRecycle();
        post({ t: "failed", id: message.id, loading: false });
        finished(message.id);
      }
      return;
    }
    case "close":
      if (running.has(message.id)) {
        await host?.close(message.id);
        finished(message.id);
      } else {
        drop(message.id);
      }
      return;
  }
}

function receive(message: ToWorker): void {
  handle(message).catch((error) => {
    post({
      t: "log",
      level: "error",
      message: `worker error: ${error?.stack ?? error}`,
    });
  });
}

scope.onmessage = (event: MessageEvent<ToWorker>) => receive(event.data);
