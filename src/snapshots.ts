/**
 * Interpreter snapshots: a worker's Pyodide heap saved once the bridge and
 * the group's `preload` modules are imported, so that later workers start
 * by copying it back instead of booting CPython and importing again (about
 * 0.3 s instead of 2-5 s).
 *
 * A snapshot is only as good as the inputs it was made from, so its file
 * name is a hash of all of them (Pyodide's version, the gateway's Python
 * sources, the group's options that shape the heap, and the path, size and
 * mtime of every importable file under `pythonPath`, `pythonHome` and
 * `home`). A
 * changed input names another file; the old one is simply never read again.
 * The file itself carries a length and a CRC-32 of its contents, so a
 * truncated or corrupt file is detected, deleted and rebuilt, never loaded.
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

import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { loadPyodide, type PyodideAPI, version } from "npm:pyodide@314.0.7";
import createPyodideModule from "npm:pyodide@314.0.7/pyodide.asm.mjs";

/** Where a group's snapshots live, and whether this server may write them. */
export interface SnapshotSettings {
  /** Folder of the snapshot files. */
  folder: string;
  /** False: use a snapshot that is there, never make one (read-only deploys). */
  write: boolean;
}

/** What decides the contents of a heap at snapshot time. */
export interface SnapshotInputs {
  /** The gateway's Python sources, by module name. */
  sources: Map<string, string>;
  /** Folders whose files the interpreter may import from. */
  folders: string[];
  /** Options that shape the heap: env, preload, paths. */
  options: Record<string, unknown>;
}

const MAGIC = new TextEncoder().encode("DWSNAP01");
/** Magic, CRC-32 of the body, body length (u32 each after the magic). */
const HEADER_BYTES = MAGIC.length + 8;
const PAGE = 65536;

/**
 * What Python's import system reads: modules, path files, zipped packages
 * and package metadata. Data next to the code (a SQLite file in `home`,
 * uploads, logs) changes all the time and never shapes an imported heap.
 */
const IMPORTED = /\.(py|pth|zip|egg)$|\.(dist|egg)-info\//;

/** Path, size and mtime of every importable file below the folders, in a stable order. */
function fileStamps(folders: string[]): string[] {
  const stamps: string[] = [];
  const walk = (folder: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(folder)];
    } catch {
      stamps.push(`${folder} unreadable`);
      return;
    }
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (const entry of entries) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory) {
        if (entry.name !== "__pycache__") walk(path);
      } else if (IMPORTED.test(path)) {
        try {
          const info = Deno.statSync(path);
          stamps.push(`${path} ${info.size} ${info.mtime?.getTime()}`);
        } catch {
          stamps.push(`${path} gone`);
        }
      }
    }
  };
  for (const folder of [...new Set(folders)].sort()) walk(folder);
  return stamps;
}

/**
 * The file name a snapshot of these inputs has: any change to an input
 * gives another name.
 */
export function snapshotName(inputs: SnapshotInputs): string {
  const hash = createHash("sha256");
  hash.update(`pyodide ${version}\n`);
  for (const [name, source] of [...inputs.sources].sort()) {
    hash.update(`${name}\n${source}\n`);
  }
  hash.update(JSON.stringify(inputs.options) + "\n");
  for (const stamp of fileStamps(inputs.folders)) hash.update(stamp + "\n");
  return `${hash.digest("hex").slice(0, 32)}.snapshot`;
}

/** Why a snapshot file was not used. */
export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SnapshotError";
  }
}

/**
 * Reads and checks a snapshot file. Undefined when there is none;
 * SnapshotError when it is truncated or corrupt.
 */
export function readSnapshot(path: string): Uint8Array | undefined {
  let file: Uint8Array;
  try {
    file = Deno.readFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new SnapshotError(`cannot read ${path}: ${(error as Error).message}`);
  }
  if (
    file.length < HEADER_BYTES ||
    MAGIC.some((byte, i) => file[i] !== byte)
  ) {
    throw new SnapshotError(`${path} is not a snapshot file`);
  }
  const view = new DataView(file.buffer, file.byteOffset, HEADER_BYTES);
  const checksum = view.getUint32(MAGIC.length, true);
  const length = view.getUint32(MAGIC.length + 4, true);
  const body = file.subarray(HEADER_BYTES);
  if (body.length !== length) {
    throw new SnapshotError(
      `${path} is truncated: ${body.length} of ${length} bytes`,
    );
  }
  if (crc32(body) !== checksum) {
    throw new SnapshotError(`${path} is corrupt: its checksum does not match`);
  }
  return body;
}

/**
 * Writes a snapshot so that no reader ever sees half a file: to a private
 * temporary name first, then renamed. Mode 0600: the heap holds the
 * group's `env`.
 */
export function writeSnapshot(path: string, body: Uint8Array): void {
  const header = new Uint8Array(HEADER_BYTES);
  header.set(MAGIC);
  const view = new DataView(header.buffer);
  view.setUint32(MAGIC.length, crc32(body), true);
  view.setUint32(MAGIC.length + 4, body.length, true);
  const folder = path.slice(0, path.lastIndexOf("/"));
  Deno.mkdirSync(folder, { recursive: true });
  const temporary = `${path}.${crypto.randomUUID()}.part`;
  const file = Deno.openSync(temporary, {
    write: true,
    createNew: true,
    mode: 0o600,
  });
  try {
    writeAll(file, header);
    writeAll(file, body);
  } finally {
    file.close();
  }
  Deno.renameSync(temporary, path);
}

/** Snapshot files a folder keeps; older ones are deleted when one is saved. */
export const KEPT_SNAPSHOTS = 12;

/**
 * Deletes all but the most recently written snapshots (and temporary files
 * an interrupted save left behind): every change of an input makes a new
 * 30-40 MiB file, and nothing else would ever remove the old ones.
 */
export function pruneSnapshots(folder: string, kept = KEPT_SNAPSHOTS): void {
  const files: { path: string; time: number }[] = [];
  const hourAgo = Date.now() - 3600_000;
  for (const entry of Deno.readDirSync(folder)) {
    const path = `${folder}/${entry.name}`;
    const time = Deno.statSync(path).mtime?.getTime() ?? 0;
    if (entry.name.endsWith(".part")) {
      if (time < hourAgo) Deno.removeSync(path);
    } else if (entry.name.endsWith(".snapshot")) {
      files.push({ path, time });
    }
  }
  files.sort((a, b) => b.time - a.time);
  for (const { path } of files.slice(kept)) Deno.removeSync(path);
}

function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
  }
}

type ModuleSettings = {
  instantiateWasm: (
    imports: unknown,
    receive: (instance: WebAssembly.Instance, module: unknown) => void,
  ) => unknown;
};

/**
 * Starts Pyodide from a snapshot's heap. The WebAssembly memory is grown to
 * the heap's size before Pyodide copies it in (Pyodide issue 6254).
 */
export async function restorePyodide(
  heap: Uint8Array,
  options: { env: Record<string, string> },
): Promise<PyodideAPI> {
  const pages = Math.ceil(heap.length / PAGE);
  const create = (settings: ModuleSettings) => {
    const instantiate = settings.instantiateWasm;
    settings.instantiateWasm = (imports, receive) =>
      instantiate(imports, (instance, module) => {
        const memory = Object.values(instance.exports).find((value) =>
          value instanceof WebAssembly.Memory
        ) as WebAssembly.Memory;
        const present = memory.buffer.byteLength / PAGE;
        if (pages > present) memory.grow(pages - present);
        receive(instance, module);
      });
    return (createPyodideModule as (settings: unknown) => unknown)(settings);
  };
  const pyodide = await loadPyodide(
    {
      env: options.env,
      _loadSnapshot: heap,
      createPyodideModule: create,
    } as Parameters<typeof loadPyodide>[0],
  );
  // Pyodide keeps its options, the snapshot's 30-40 MiB among them.
  const api = (pyodide as unknown as { _api?: { config?: object } })._api;
  if (api?.config) {
    delete (api.config as { _loadSnapshot?: unknown })._loadSnapshot;
  }
  return pyodide;
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

type Say = (level: "info" | "warn", message: string) => void;

/**
 * The snapshot file an interpreter's inputs name, or undefined when
 * snapshots are off (or the inputs cannot be read, which is said).
 */
export function snapshotFileFor(
  settings: {
    snapshot?: SnapshotSettings;
    pythonHome?: string;
    home?: string;
    env: Record<string, string>;
    preload: string[];
    group: string;
  },
  inputs: { sources: Map<string, string>; paths: string[] },
  say: Say,
): string | undefined {
  if (!settings.snapshot) return undefined;
  const { pythonHome, home, env, preload } = settings;
  const { paths, sources } = inputs;
  try {
    const name = snapshotName({
      sources,
      folders: [...paths, ...(home ? [home] : [])],
      // `home` itself shapes nothing in the heap (the working directory is
      // set after a restore); what can be imported from it is in `folders`.
      options: { paths, pythonHome, env, preload },
    });
    return `${settings.snapshot.folder}/${name}`;
  } catch (error) {
    say(
      "warn",
      `snapshots are off for group ${settings.group}: ${
        (error as Error).message
      }`,
    );
    return undefined;
  }
}

/**
 * Starts Pyodide from the snapshot file if a good one is there; a bad one
 * is said, deleted (so the next start makes a new one) and not used.
 */
export async function restoreFrom(
  path: string,
  env: Record<string, string>,
  say: Say,
): Promise<PyodideAPI | undefined> {
  let heap: Uint8Array | undefined;
  try {
    heap = readSnapshot(path);
  } catch (error) {
    say("warn", `${(error as Error).message}; making a new one`);
    if (error instanceof SnapshotError) {
      try {
        Deno.removeSync(path);
      } catch {
        // another worker removed or replaced it first
      }
    }
    return undefined;
  }
  if (!heap) return undefined;
  try {
    const pyodide = await restorePyodide(heap, { env });
    say("info", `started from snapshot ${path}`);
    return pyodide;
  } catch (error) {
    say(
      "warn",
      `snapshot ${path} could not be restored (${
        (error as Error).message
      }); starting without it`,
    );
    return undefined;
  }
}

const refusedFolders = new Set<string>();

/**
 * Whether Deno lets this worker write snapshots to `folder`. A server run
 * without --allow-write there (the demo task, say) starts its workers the
 * slow way; it is said once, rather than failing a save at every start.
 */
export function maySave(folder: string, say: Say): boolean {
  let state: Deno.PermissionState;
  try {
    state = Deno.permissions.querySync({ name: "write", path: folder }).state;
  } catch {
    state = "denied";
  }
  if (state === "granted") return true;
  if (!refusedFolders.has(folder)) {
    refusedFolders.add(folder);
    say(
      "info",
      `interpreter snapshots are not saved: Deno may not write ${folder} (--allow-write=${folder}); workers start without one`,
    );
  }
  return false;
}

/** Saves an interpreter made with `_makeSnapshot`, then prunes the folder. */
export function saveSnapshot(
  pyodide: PyodideAPI,
  path: string,
  say: Say,
): void {
  try {
    const heap = (pyodide as unknown as { makeMemorySnapshot(): Uint8Array })
      .makeMemorySnapshot();
    writeSnapshot(path, heap);
    pruneSnapshots(path.slice(0, path.lastIndexOf("/")));
    say(
      "info",
      `saved interpreter snapshot ${path} (${
        (heap.length / 1048576).toFixed(1)
      } MiB)`,
    );
  } catch (error) {
    say("warn", `no snapshot saved: ${(error as Error).message}`);
  }
}
