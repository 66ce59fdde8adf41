/**
 * Which snapshot file an interpreter's inputs name. A snapshot is only as
 * good as the inputs it was made from, so its file name is a hash of all
 * of them (Pyodide's version, the gateway's Python sources, the group's
 * options that shape the heap, and the path, size and mtime of every
 * importable file under `pythonPath`, `pythonHome` and `home`). A changed
 * input names another file; the old one is simply never read again.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { version } from "npm:pyodide@314.0.7";
import type { Say, SnapshotSettings } from "./snapshots.ts";

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

/** Variables a shell sets for itself, which no app reads at import. */
const SHELL_BOOKKEEPING = new Set(["PWD", "OLDPWD", "SHLVL", "_"]);

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
