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
import type { SnapshotSettings } from "./snapshots.ts";
import type { CompiledPyodide } from "./compiled_pyodide.ts";

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
    /** Start from, and save, interpreter snapshots here; absent: off. */
    snapshot?: SnapshotSettings;
    /** Bytes of heap past which the worker asks to be recycled; 0 or absent: none. */
    memoryLimit?: number;
    /** Seconds of its thread's CPU after which the worker asks to be recycled; 0 or absent: none. */
    cpuTimeLimit?: number;
    /** Pyodide's folder as the server resolved it, which the worker's read permission names. */
    pyodideFolder?: string;
    /** The server's environment as the group inherits it (`inheritEnv`); `env` wins. */
    inheritedEnv?: Record<string, string>;
  };

/** Why a worker asks to be recycled: its memory, or its CPU time. */
export type RecycleCause = "memory" | "cpu";

/** How the request body reaches Python. */
export type BodySource =
  | { kind: "none" }
  | { kind: "bytes"; data: Uint8Array }
  | { kind: "stream"; read: () => Promise<Uint8Array | undefined> };

/**
 * A first chunk left where Python made it, in the interpreter's memory
 * (embedded mode): the Response that copies it is then the only copy.
 */
export interface LentChunk {
  /**
   * Calls `use` with the bytes in place. The view is good only during the
   * call: Python growing its memory afterwards detaches it.
   */
  read<T>(use: (bytes: Uint8Array) => T): T;
  /** Lets go of the bytes; reading after this throws. Idempotent. */
  release(): void;
}

/** The start of a response: what start_response said, and the first chunk. */
export interface ResponseHead {
  status: number;
  statusText: string;
  headers: [string, string][];
  /** The first chunk, as a copy of its own (`lent`: not copied yet). */
  chunk?: Uint8Array;
  lent?: LentChunk;
  done: boolean;
}

/** Messages from the pool to a worker. */
export type ToWorker =
  | {
    t: "init";
    settings: InterpreterSettings;
    mounts: MountSpec[];
    interrupt: SharedArrayBuffer;
    /** Pyodide compiled by the server, for a Web Worker (not a process). */
    code?: CompiledPyodide;
    /**
     * In a worker process: the server's socket for this worker's requests,
     * which the Web Worker connects to and reads and writes itself.
     */
    socket?: string;
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
  /** The next body chunk; `error` when the body could not be read (too large). */
  | { t: "body"; id: number; chunk?: Uint8Array; error?: string }
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
  /**
   * The worker should be recycled once its requests are done: `cause`
   * "memory" (memoryLimit passed, or a MemoryError) or "cpu" (cpuTimeLimit
   * used); sent before the reply that ends the request.
   */
  | { t: "recycle"; reason: string; cause: RecycleCause }
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

/** The flags buffer: the interrupt flag, then the fate words. */
export function createFlags(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (1 + FATE_WORDS));
}

function fateIndex(id: number): number {
  return 1 + id % FATE_WORDS;
}

/**
 * The fate of a pipelined request is one shared word, so that the server
 * can take the request back while Python keeps the worker's thread busy
 * (FATE_WORDS words per worker, a request's at `id % FATE_WORDS`): the
 * worker writes `id + 1` when it starts the request, the server
 * `-(id + 1)` when it takes it back, each only if the other has not
 * written first: a compare-and-swap over whatever an earlier request left
 * there. Nothing is written before, so a request may reach the worker by
 * a path that never passes the word's other side (a worker process's own
 * socket, channels.ts). Takes back a pipelined request; false when the
 * worker started it.
 */
export function cancelPipelined(flags: SharedArrayBuffer, id: number): boolean {
  return decide(flags, id, -(id + 1));
}

/** The worker's side: true when it may start the request, false to skip it. */
export function startPipelined(flags: SharedArrayBuffer, id: number): boolean {
  return decide(flags, id, id + 1);
}

/** Writes `mine` in the request's word unless its other fate is there: true if mine won. */
function decide(flags: SharedArrayBuffer, id: number, mine: number): boolean {
  const word = new Int32Array(flags);
  const index = fateIndex(id);
  for (;;) {
    const fate = Atomics.load(word, index);
    if (fate === mine) return true;
    if (fate === -mine) return false;
    if (Atomics.compareExchange(word, index, fate, mine) === fate) return true;
  }
}

/**
 * Reads the head that python/wsgi_bridge.py packs into one str (its
 * `_pack_head`): `<length>:<done flag><status>\0<name>\0<value>...`,
 * followed, when `inline`, by a small first chunk as latin-1 text.
 */
export function unpackHead(
  packed: string,
  inline: boolean,
  chunk?: Uint8Array,
  lent?: LentChunk,
): ResponseHead {
  const colon = packed.indexOf(":");
  const start = colon + 1;
  const end = start + Number(packed.slice(0, colon));
  const fields = packed.slice(start, end).split("\0");
  const statusLine = fields[0];
  const space = statusLine.indexOf(" ");
  const headers: [string, string][] = [];
  for (let i = 1; i + 1 < fields.length; i += 2) {
    headers.push([fields[i], fields[i + 1]]);
  }
  if (inline && end < packed.length) {
    chunk = new Uint8Array(packed.length - end);
    for (let i = 0; i < chunk.length; i++) {
      chunk[i] = packed.charCodeAt(end + i);
    }
  }
  return {
    status: Number(statusLine.slice(1, space)),
    statusText: statusLine.slice(space + 1),
    headers,
    chunk,
    lent,
    done: statusLine[0] === "1",
  };
}
