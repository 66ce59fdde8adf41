/**
 * Saving an interpreter's snapshot: the file written so that no reader
 * ever sees half of one, the folder pruned of old ones, and whether this
 * worker may write there at all.
 *
 * @module
 */

import type { PyodideAPI } from "npm:pyodide@314.0.7";
import { packHeader } from "./snapshot_format.ts";
import type { Say } from "./snapshots.ts";

/**
 * Writes a snapshot so that no reader ever sees half a file: to a private
 * temporary name first, then renamed. Mode 0600: the heap holds the
 * group's `env`.
 */
export function writeSnapshot(path: string, body: Uint8Array): void {
  const header = packHeader(body);
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
