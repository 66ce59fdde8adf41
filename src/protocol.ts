/**
 * What the pool and a worker say to each other, and the shared memory they
 * both read: the messages, the settings a worker starts with, a response
 * head, and the words that decide the fate of a pipelined request. This
 * module imports nothing of the project at run time, so a relay process
 * (src/process_main.ts) that loads it loads nothing else.
 *
 * @module
 */

import type { GroupConfig, MountSpec } from "./config.ts";
import type { LogLevel } from "./logging.ts";

/** Settings every interpreter of a worker shares (from its group). */
export type InterpreterSettings =
  & Pick<
    GroupConfig,
    | "pythonPath"
    | "pythonHome"
    | "home"
    | "env"
    | "preload"
    | "threads"
    | "allowNet"
    | "writable"
  >
  & {
    /** The group's name, for the log. */
    group: string;
  };

/** How the request body reaches Python. */
export type BodySource =
  | { kind: "none" }
  | { kind: "bytes"; data: Uint8Array }
  | { kind: "stream"; read: () => Promise<Uint8Array | undefined> };

/** The start of a response: what start_response said, and the first chunk. */
export interface ResponseHead {
  status: number;
  statusText: string;
  headers: [string, string][];
  chunk?: Uint8Array;
  done: boolean;
}

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

/**
 * Requests a worker holds at most: the running one and those pipelined
 * behind it.
 */
export const PIPELINE_DEPTH = 4;

/** Words after the interrupt flag, one per request a worker may hold. */
const FATE_WORDS = 8;

// Each pipelined request needs a fate word of its own (ids are consecutive
// per worker, so PIPELINE_DEPTH of them never share one).
if (PIPELINE_DEPTH > FATE_WORDS) {
  throw new Error("PIPELINE_DEPTH must not exceed FATE_WORDS");
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
