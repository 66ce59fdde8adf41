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
  /**
   * True: the snapshot is taken after the mounts' WSGI scripts are
   * imported too, when the import draws no entropy and leaves no file or
   * socket open (python/snapshot_import.py).
   */
  script: boolean;
}

/** A WSGI script imported into a snapshot (`snapshot.script`). */
export interface SnapshotScript {
  scriptPath: string;
  callable: string;
  /** The mount's own pythonPath. */
  pythonPath: string[];
}

/** What decides the contents of a heap at snapshot time. */
export interface SnapshotInputs {
  /** The gateway's Python sources, by module name. */
  sources: Map<string, string>;
  /** Folders whose files the interpreter may import from. */
  folders: string[];
  /** Options that shape the heap: env, preload, paths. */
  options: Record<string, unknown>;
  /** Files stamped whatever their suffix (WSGI scripts). */
  files?: string[];
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

function stamp(path: string): string {
  try {
    const info = Deno.statSync(path);
    return `${path} ${info.size} ${info.mtime?.getTime()}`;
  } catch {
    return `${path} gone`;
  }
}

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
        stamps.push(stamp(path));
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
  for (const line of fileStamps(inputs.folders)) hash.update(line + "\n");
  for (const file of inputs.files ?? []) hash.update(stamp(file) + "\n");
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
    if (
      readFull(file, header) !== HEADER_BYTES ||
      MAGIC.some((byte, i) => header[i] !== byte)
    ) {
      throw new SnapshotError(`${path} is not a snapshot file`);
    }
    const view = new DataView(header.buffer);
    const checksum = view.getUint32(MAGIC.length, true);
    const length = view.getUint32(MAGIC.length + 4, true);
    const size = file.statSync().size - HEADER_BYTES;
    if (size !== length) {
      throw new SnapshotError(
        `${path} is truncated: ${size} of ${length} bytes`,
      );
    }
    // Pyodide's header: a magic number, then where the heap starts.
    const start = new Uint8Array(16);
    readFull(file, start);
    const heapOffset = new DataView(start.buffer).getUint32(4, true);
    if (heapOffset < 16 || heapOffset > length || heapOffset % 16 !== 0) {
      throw new SnapshotError(
        `${path} is corrupt: its header is not Pyodide's`,
      );
    }
    const prefix = new Uint8Array(heapOffset);
    prefix.set(start);
    readFull(file, prefix.subarray(16));
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
  options: { env: Record<string, string> },
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
    inheritedEnv?: Record<string, string>;
  },
  inputs: {
    sources: Map<string, string>;
    paths: string[];
    scripts?: SnapshotScript[];
  },
  say: Say,
): string | undefined {
  if (!settings.snapshot) return undefined;
  const { pythonHome, home, env, preload } = settings;
  const { paths, sources } = inputs;
  const scripts = inputs.scripts ?? [];
  const folderOf = (path: string) => path.slice(0, path.lastIndexOf("/"));
  try {
    const name = snapshotName({
      sources,
      folders: [
        ...paths,
        ...(home ? [home] : []),
        ...scripts.flatMap((s) => [folderOf(s.scriptPath), ...s.pythonPath]),
      ],
      files: scripts.map((s) => s.scriptPath),
      // `home` itself shapes nothing in the heap (the working directory is
      // set after a restore); what can be imported from it is in `folders`.
      // A script's import may read the inherited environment: then it is
      // in the heap, so in the name.
      options: scripts.length > 0
        ? {
          paths,
          pythonHome,
          env,
          preload,
          scripts,
          // Deno.env.toObject() has no stable order. The shell's own
          // bookkeeping (PWD when started from another folder) is left
          // out: os.environ gets the server's values after a restore.
          inherited: Object.entries(settings.inheritedEnv ?? {})
            .filter(([name]) => !SHELL_BOOKKEEPING.has(name)).sort(),
        }
        : { paths, pythonHome, env, preload },
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
  try {
    const pyodide = await restorePyodide(path, { env });
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

/** Variables a shell sets for itself, which no app reads at import. */
const SHELL_BOOKKEEPING = new Set(["PWD", "OLDPWD", "SHLVL", "_"]);

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

/**
 * Saves an interpreter made with `_makeSnapshot`, then prunes the folder.
 * False when it could not (said).
 */
export function saveSnapshot(
  pyodide: PyodideAPI,
  path: string,
  say: Say,
  what = "",
): boolean {
  try {
    const heap = (pyodide as unknown as { makeMemorySnapshot(): Uint8Array })
      .makeMemorySnapshot();
    writeSnapshot(path, heap);
    pruneSnapshots(path.slice(0, path.lastIndexOf("/")));
    say(
      "info",
      `saved interpreter snapshot ${path}${what ? ` ${what}` : ""} (${
        (heap.length / 1048576).toFixed(1)
      } MiB)`,
    );
    return true;
  } catch (error) {
    say("warn", `no snapshot saved: ${(error as Error).message}`);
    return false;
  }
}
