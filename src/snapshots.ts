/**
 * Interpreter snapshots: a worker's Pyodide heap saved once the bridge and
 * the group's `preload` modules are imported, so that later workers start
 * by copying it back instead of booting CPython and importing again (about
 * 0.3 s instead of 2-5 s). This module starts a worker from one; which
 * file an interpreter's inputs name is `snapshot_key.ts`, the file's header
 * `snapshot_format.ts`, saving one `snapshot_save.ts`, and the WSGI scripts
 * imported into one `snapshot_scripts.ts`.
 *
 * The file carries a length and a CRC-32 of its contents, so a truncated or
 * corrupt file is detected, deleted and rebuilt, never loaded.
 *
 * Pyodide's snapshot API is private (`_makeSnapshot`, `_loadSnapshot`,
 * `makeMemorySnapshot`). Its restore copies the saved heap into the
 * WebAssembly memory without growing it first (Pyodide issue 6254), which
 * fails for any heap above the compiled 30 MiB; `restorePyodide` grows the
 * memory right after instantiation, through Pyodide's `createPyodideModule`
 * hook, so the copy fits.
 *
 * @module
 */

import { crc32 } from "node:zlib";
import { loadPyodide, type PyodideAPI } from "npm:pyodide@314.0.7";
import createPyodideModule from "npm:pyodide@314.0.7/pyodide.asm.mjs";
import {
  HEADER_BYTES,
  heapOffsetOf,
  PAGE,
  PYODIDE_HEADER_BYTES,
  SnapshotError,
  unpackHeader,
} from "./snapshot_format.ts";

/** Where a group's snapshots live, and whether this server may write them. */
export interface SnapshotSettings {
  /** Folder of the snapshot files. */
  folder: string;
  /** False: use a snapshot that is there, never make one (read-only deploys). */
  write: boolean;
  /**
   * True: the snapshot is taken after the mounts' WSGI scripts are
   * imported too, when the import draws no entropy and leaves no file or
   * socket open (python/snapshot_import.py).
   */
  script: boolean;
}

/** Says what happened to a snapshot, in the group's log. */
export type Say = (level: "info" | "warn", message: string) => void;

type ModuleSettings = {
  instantiateWasm: (
    imports: unknown,
    receive: (instance: WebAssembly.Instance, module: unknown) => void,
  ) => unknown;
};

type PyodideModule = {
  API: { restoreSnapshot(bytes: Uint8Array): unknown };
};

/** Reads until `buffer` is full or the file ends; returns the bytes read. */
function readFull(file: Deno.FsFile, buffer: Uint8Array): number {
  let filled = 0;
  while (filled < buffer.length) {
    const read = file.readSync(buffer.subarray(filled));
    if (read === null || read === 0) break;
    filled += read;
  }
  return filled;
}

function isZero(words: Int32Array): boolean {
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
}

/** What copying the heap in page by page costs less than copying it whole. */
const CHUNK = 16 * PAGE;

/**
 * Copies a snapshot's heap from its file into a WebAssembly memory at
 * least its size, a chunk at a time, skipping the pages that are zero in
 * both: a fresh memory is zero, and a page never written costs no RSS.
 * SnapshotError when the body's CRC-32 does not match the header's.
 */
export function copyHeap(
  snapshot: OpenSnapshot,
  memory: WebAssembly.Memory,
): void {
  const { file, heapBytes, path } = snapshot;
  let crc = crc32(snapshot.prefix);
  const chunk = new Uint8Array(CHUNK);
  const live = new Uint8Array(memory.buffer);
  for (let offset = 0; offset < heapBytes; offset += CHUNK) {
    const want = Math.min(CHUNK, heapBytes - offset);
    const got = readFull(file, chunk.subarray(0, want));
    if (got !== want) throw new SnapshotError(`${path} is truncated`);
    crc = crc32(chunk.subarray(0, got), crc);
    for (let page = 0; page < got; page += PAGE) {
      const end = Math.min(page + PAGE, got);
      const saved = chunk.subarray(page, end);
      const at = offset + page;
      if (
        end - page === PAGE &&
        isZero(new Int32Array(chunk.buffer, page, PAGE / 4)) &&
        isZero(new Int32Array(memory.buffer, at, PAGE / 4))
      ) continue;
      live.set(saved, at);
    }
  }
  if (crc !== snapshot.checksum) {
    throw new SnapshotError(`${path} is corrupt: its checksum does not match`);
  }
}

/** A snapshot file whose headers were checked, open at its heap. */
export interface OpenSnapshot {
  path: string;
  file: Deno.FsFile;
  /** CRC-32 of the whole body, from the file's header. */
  checksum: number;
  /** Pyodide's header and JS state: all of the body before the heap. */
  prefix: Uint8Array;
  heapBytes: number;
}

/**
 * Opens a snapshot file and reads it up to the heap. Undefined when there
 * is none; SnapshotError when it is foreign or truncated (a corrupt body
 * shows when the heap is copied: copyHeap).
 */
export function openSnapshot(path: string): OpenSnapshot | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new SnapshotError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const header = new Uint8Array(HEADER_BYTES);
    const got = readFull(file, header);
    const { checksum, length } = unpackHeader(
      path,
      header.subarray(0, got),
      file.statSync().size - HEADER_BYTES,
    );
    const start = new Uint8Array(PYODIDE_HEADER_BYTES);
    readFull(file, start);
    const heapOffset = heapOffsetOf(path, start, length);
    const prefix = new Uint8Array(heapOffset);
    prefix.set(start);
    readFull(file, prefix.subarray(PYODIDE_HEADER_BYTES));
    return { path, file, checksum, prefix, heapBytes: length - heapOffset };
  } catch (error) {
    file.close();
    throw error;
  }
}

/**
 * Starts Pyodide from a snapshot file, checked as it is read: a foreign or
 * truncated file fails before Pyodide starts, a corrupt one (its CRC-32)
 * once the heap is in; both with SnapshotError. The file is never held in
 * memory whole: Pyodide gets its header, and the heap goes from the file
 * straight into the WebAssembly memory, grown to its size first (Pyodide
 * issue 6254: Pyodide's own restore does not grow it).
 */
export async function restorePyodide(
  path: string,
  options: { env: Record<string, string>; indexURL?: string },
): Promise<PyodideAPI> {
  const opened = openSnapshot(path);
  if (!opened) throw new Deno.errors.NotFound(path);
  const { file, prefix, heapBytes } = opened;
  try {
    let memory: WebAssembly.Memory | undefined;
    const create = (settings: ModuleSettings) => {
      const instantiate = settings.instantiateWasm;
      settings.instantiateWasm = (imports, receive) =>
        instantiate(imports, (instance, module) => {
          memory = Object.values(instance.exports).find((value) =>
            value instanceof WebAssembly.Memory
          ) as WebAssembly.Memory;
          const pages = Math.ceil(heapBytes / PAGE);
          const present = memory.buffer.byteLength / PAGE;
          if (pages > present) memory.grow(pages - present);
          receive(instance, module);
        });
      const made = (createPyodideModule as (
        settings: unknown,
      ) => Promise<PyodideModule>)(settings);
      return made.then((module) => {
        const api = module.API;
        const restore = api.restoreSnapshot.bind(api);
        api.restoreSnapshot = (bytes) => {
          const state = restore(bytes);
          copyHeap(opened, memory!);
          return state;
        };
        return module;
      });
    };
    return await loadPyodide(
      {
        env: options.env,
        ...(options.indexURL ? { indexURL: options.indexURL } : {}),
        _loadSnapshot: prefix,
        createPyodideModule: create,
      } as unknown as Parameters<typeof loadPyodide>[0],
    );
  } finally {
    file.close();
  }
}

/** Python run after a restore, so workers do not share the snapshot's randomness. */
export const RESEED = `
import random as _random
_random.seed()
try:
    import tempfile as _tempfile
    _tempfile._name_sequence = None
    del _tempfile
except ImportError:
    pass
del _random
`;

/**
 * Starts Pyodide from the snapshot file if a good one is there; a bad one
 * is said, deleted (so the next start makes a new one) and not used.
 */
export async function restoreFrom(
  path: string,
  say: Say,
  options: { env: Record<string, string>; indexURL?: string },
): Promise<PyodideAPI | undefined> {
  try {
    const pyodide = await restorePyodide(path, options);
    say("info", `started from snapshot ${path}`);
    return pyodide;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    if (error instanceof SnapshotError) {
      say("warn", `${error.message}; making a new one`);
      try {
        Deno.removeSync(path);
      } catch {
        // another worker removed or replaced it first, or read-only
      }
      return undefined;
    }
    say(
      "warn",
      `snapshot ${path} could not be restored (${
        (error as Error).message
      }); starting without it`,
    );
    return undefined;
  }
}

const missing = new Set<string>();

/**
 * Says, once per file, that a read-only snapshot folder lacks the snapshot
 * these inputs name: a build with other options, files or environment
 * than the server's names another file.
 */
export function sayMissing(path: string, say: Say): void {
  if (missing.has(path)) return;
  missing.add(path);
  say(
    "warn",
    `no interpreter snapshot ${path} in the read-only snapshot folder: workers start without one. Build it with build-snapshot (or buildSnapshot()) and exactly the server's options, files and environment`,
  );
}
