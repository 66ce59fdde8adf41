/**
 * What an interpreter sees of the host's file system: host folders mounted
 * at their own paths, which of them are read-only (with the option that
 * mapped each, for Python's error message), and python/files.py's write
 * rules (`writable`), with the Deno permission a writable folder lacks.
 *
 * @module
 */

import type { PyodideAPI } from "npm:pyodide@314.0.7";
import type { PyProxy } from "npm:pyodide@314.0.7/ffi";
import type { LogLevel } from "./logging.ts";
import type { InterpreterSettings } from "./protocol.ts";

/** The part of an interpreter that maps and guards host folders. */
export interface FolderView {
  pyodide: PyodideAPI;
  /** python/files.py: where this interpreter may write. */
  files: PyProxy;
  /** Host folders mapped read-only, with the option that mapped each. */
  readonly: Map<string, string>;
  /** Host folders mounted so far. */
  mounted: Set<string>;
}

/** Makes a host folder visible at the same path inside the interpreter. */
export function mountHostFolder(
  view: Pick<FolderView, "pyodide" | "mounted">,
  path: string,
): void {
  for (const done of view.mounted) {
    if (path === done || path.startsWith(done + "/")) return;
  }
  const fs = view.pyodide.FS;
  // A mount point must be empty: a folder inside this one that is already
  // mounted comes down first (the new mount shows its files anyway).
  for (const inner of [...view.mounted]) {
    if (!inner.startsWith(path + "/")) continue;
    fs.unmount(inner);
    view.mounted.delete(inner);
    for (
      let dir = inner;
      dir !== path;
      dir = dir.slice(0, dir.lastIndexOf("/"))
    ) {
      try {
        fs.rmdir(dir);
      } catch {
        break; // not empty: something else lives there
      }
    }
  }
  fs.mkdirTree(path);
  view.pyodide.mountNodeFS(path, path);
  view.mounted.add(path);
}

/** A group's read-only host folders, each with the option naming it. */
export function readonlyFolders(
  settings: InterpreterSettings,
  sitePackages: string[],
): Map<string, string> {
  const folders = new Map<string, string>();
  for (const path of settings.pythonPath) folders.set(path, "pythonPath");
  for (const path of sitePackages) folders.set(path, "pythonHome");
  if (settings.pythonHome) folders.set(settings.pythonHome, "pythonHome");
  if (settings.home) folders.set(settings.home, "home");
  return folders;
}

/**
 * Variables that name a CA bundle for Python's TLS clients (`ssl` through
 * python/network.py, `requests`, `urllib3`, curl-style tools). Inherited
 * from a server whose environment sets them, they name host files that
 * Python cannot see unless their folder is mapped in.
 */
const CA_VARIABLES = ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"];

/**
 * The folders of the CA bundles `env` names that exist on the host, each
 * with the variable that names it: mapped read-only, so that a bundle the
 * server's environment points at works inside Python too.
 */
export function caBundleFolders(
  env: Record<string, string>,
): Map<string, string> {
  const folders = new Map<string, string>();
  for (const name of CA_VARIABLES) {
    const path = env[name];
    if (!path?.startsWith("/")) continue;
    try {
      if (!Deno.statSync(path).isFile) continue;
    } catch {
      continue; // missing, or Deno may not read it: nothing to map
    }
    folders.set(path.slice(0, path.lastIndexOf("/")) || "/", `$${name}`);
  }
  return folders;
}

/** python/files.py's rules for the interpreters of one worker. */
export class WriteGuards {
  readonly #settings: InterpreterSettings;
  readonly #emit: (level: LogLevel, message: string) => void;
  /** Whether Deno lets this worker write each writable folder. */
  readonly #grants = new Map<string, boolean>();

  constructor(
    settings: InterpreterSettings,
    emit: (level: LogLevel, message: string) => void,
  ) {
    this.#settings = settings;
    this.#emit = emit;
  }

  /**
   * (Re)installs python/files.py's rules: writes go to `writable` folders
   * only, and a writable folder that Deno's permissions keep closed names
   * the missing flag instead of failing with a bare EACCES.
   */
  install(view: FolderView): void {
    const { pyodide } = view;
    const missing: Record<string, string> = {};
    for (const folder of this.#settings.writable) {
      if (!this.#permitted(folder)) {
        missing[folder] = `--allow-write=${folder}`;
      }
    }
    view.files.install(
      pyodide.toPy(this.#settings.writable),
      pyodide.toPy(Object.fromEntries(view.readonly)),
      pyodide.toPy(missing),
    );
  }

  #permitted(folder: string): boolean {
    let granted = this.#grants.get(folder);
    if (granted === undefined) {
      granted = Deno.permissions.querySync({ name: "write", path: folder })
        .state === "granted";
      this.#grants.set(folder, granted);
      if (!granted) {
        this.#emit(
          "error",
          `writable folder ${folder} of group ${this.#settings.group} cannot be written: Deno permission --allow-write=${folder} is missing; Python's writes there raise PermissionError`,
        );
      }
    }
    return granted;
  }
}
