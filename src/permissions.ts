/**
 * The Deno permission flags of a group's worker processes
 * (`isolation: "process"`): the group's `permissions` or the server's own,
 * with what a worker must read (Pyodide, this library, the apps), what it
 * may write (`writable`) and where it may connect (`allowNet`) merged in.
 *
 * @module
 */

import { dirname } from "node:path";
import type { GroupConfig, MountSpec } from "./config.ts";

const PERMISSION_NAMES = [
  "read",
  "write",
  "net",
  "env",
  "sys",
  "run",
  "ffi",
  "import",
] as const;

/** The permissions this process holds in full, as flags for a child. */
function inheritedPermissions(): string[] {
  const flags: string[] = [];
  for (const name of PERMISSION_NAMES) {
    try {
      const status = Deno.permissions.querySync(
        { name } as Deno.PermissionDescriptor,
      );
      if (status.state === "granted") flags.push(`--allow-${name}`);
    } catch {
      // A permission this Deno does not know.
    }
  }
  return flags;
}

/** What a process worker must read: Pyodide, this library, the apps. */
function neededReads(config: GroupConfig, mounts: MountSpec[]): string[] {
  const reads = new Set<string>([
    new URL("../", import.meta.url).pathname.replace(/\/$/, ""),
    dirname(new URL(import.meta.resolve("npm:pyodide@314.0.7")).pathname),
    ...config.pythonPath,
  ]);
  if (config.home) reads.add(config.home);
  if (config.pythonHome) reads.add(config.pythonHome);
  for (const path of config.writable) reads.add(path);
  if (config.snapshot) reads.add(config.snapshot.folder);
  for (const spec of mounts) {
    reads.add(dirname(spec.scriptPath));
    for (const path of spec.pythonPath) reads.add(path);
  }
  return [...reads];
}

export function covered(path: string, reads: string[]): boolean {
  return reads.some((read) => path === read || path.startsWith(read + "/"));
}

/**
 * True when a worker that may read `reads` (undefined: anything) can load
 * a mount: its script's folder and its pythonPath.
 */
export function readable(spec: MountSpec, reads?: string[]): boolean {
  if (!reads) return true;
  const folders = [dirname(spec.scriptPath), ...spec.pythonPath];
  return folders.every((folder) => covered(folder, reads));
}

/**
 * Adds `--allow-write` for the group's writable folders that the server
 * itself may write, so a worker never gets more than the server has; a
 * folder the server may not write stays closed, and Python's error names
 * the missing flag (python/files.py).
 */
function withWritableFolders(flags: string[], writable: string[]): string[] {
  if (flags.includes("--allow-write")) return flags;
  const granted = writable.filter((path) =>
    Deno.permissions.querySync({ name: "write", path }).state === "granted"
  );
  if (granted.length === 0) return flags;
  const writes = [...granted];
  const others = flags.filter((flag) => {
    if (!flag.startsWith("--allow-write=")) return true;
    writes.push(...flag.slice("--allow-write=".length).split(","));
    return false;
  });
  return [...others, `--allow-write=${writes.join(",")}`];
}

/**
 * The Deno flags of a process worker: the group's permissions (or the
 * server's), with read access to what it needs merged in. Returns the reads
 * granted, or undefined when reading is unrestricted.
 */
export function processPermissions(
  config: GroupConfig,
  mounts: MountSpec[],
): { flags: string[]; reads?: string[] } {
  let given = config.permissions ?? inheritedPermissions();
  if (config.allowNet) {
    // Deno itself then enforces allowNet in the worker.
    given = given.includes("-A") || given.includes("--allow-all")
      ? [...PERMISSION_NAMES].filter((n) => n !== "net").map((n) =>
        `--allow-${n}`
      )
      : given.filter((flag) => !/^--allow-net(=|$)/.test(flag));
    given.push(
      config.allowNet.includes("*")
        ? "--allow-net"
        : `--allow-net=${config.allowNet.join(",")}`,
    );
  }
  if (given.includes("-A") || given.includes("--allow-all")) {
    return { flags: ["--allow-all"] };
  }
  given = withWritableFolders(given, config.writable);
  if (given.includes("--allow-read")) return { flags: given };
  const reads = neededReads(config, mounts);
  const flags: string[] = [];
  for (const flag of given) {
    if (flag.startsWith("--allow-read=")) {
      reads.push(...flag.slice("--allow-read=".length).split(","));
    } else {
      flags.push(flag);
    }
  }
  flags.push(`--allow-read=${reads.join(",")}`);
  return { flags, reads };
}
