/**
 * The WSGI scripts in an interpreter snapshot (`snapshot.script`), the
 * TypeScript half of python/snapshot_import.py: imported before the
 * snapshot is saved, unless their import draws entropy or leaves a file or
 * socket open, and after a restore, whether they came back with the heap.
 *
 * @module
 */

import type { PyodideAPI } from "npm:pyodide@314.0.7";
import { mountHostFolder } from "./host_folders.ts";
import type {
  Interpreter,
  PyCallable,
  StartupOptions,
} from "./interpreter_startup.ts";
import type { SnapshotScript } from "./snapshot_key.ts";

/** How many files and sockets the interpreter has open. */
function openStreams(pyodide: PyodideAPI): number {
  // deno-lint-ignore no-explicit-any
  const streams = (pyodide.FS as any).streams as unknown[];
  return streams.filter((stream) => stream).length;
}

/**
 * Imports the WSGI scripts that go into the snapshot (`snapshot.script`).
 * False when one cannot: its import drew entropy, failed, or left a file
 * or socket open (the file system is not in the heap, so a restored
 * worker would hold a dead descriptor). Said, with the traceback.
 */
export async function importScripts(
  interpreter: Interpreter,
  scripts: SnapshotScript[],
  emit: StartupOptions["emit"],
): Promise<boolean> {
  if (scripts.length === 0) return false;
  const { pyodide } = interpreter;
  const before = openStreams(pyodide);
  const module = pyodide.pyimport("snapshot_import");
  const importScript = module.import_script.copy() as PyCallable;
  module.destroy();
  try {
    for (const script of scripts) {
      const folder = script.scriptPath.slice(
        0,
        script.scriptPath.lastIndexOf("/"),
      ) || "/";
      for (const path of [folder, ...script.pythonPath]) {
        mountHostFolder(interpreter, path);
      }
      try {
        await importScript.callPromising(
          script.scriptPath,
          script.callable,
          pyodide.toPy(script.pythonPath),
        );
      } catch (error) {
        emit(
          "warn",
          `WSGI script ${script.scriptPath} is not in the interpreter snapshot (each worker imports it):\n${
            (error as Error).message.trimEnd()
          }`,
        );
        return false;
      }
    }
  } finally {
    importScript.destroy();
  }
  if (openStreams(pyodide) > before) {
    emit(
      "warn",
      `the WSGI scripts ${
        scripts.map((s) => s.scriptPath).join(", ")
      } are not in the interpreter snapshot (each worker imports them): their import left a file or socket open, which a restored worker would not have`,
    );
    return false;
  }
  return true;
}

/** Whether a restored interpreter holds the scripts' modules. */
export function scriptsRestored(
  pyodide: PyodideAPI,
  scripts: SnapshotScript[],
): boolean {
  const module = pyodide.pyimport("snapshot_import");
  const imported = module.imported(
    pyodide.toPy(scripts.map((script) => script.scriptPath)),
  ) === true;
  module.destroy();
  return imported;
}
