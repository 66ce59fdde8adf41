/**
 * The files an interpreter starts from: the Python half of the gateway
 * (python/*.py, copied into every interpreter) and a virtualenv's
 * site-packages (`pythonHome`).
 *
 * @module
 */

import { PYTHON_SOURCES } from "./python_sources.ts";

/**
 * The Python half of the gateway, copied into every interpreter. It comes
 * from src/python_sources.ts (generated from python/*.py) rather than from
 * the files, which do not travel with a copy imported from a URL.
 */
export function readPythonModules(): Promise<Map<string, string>> {
  return Promise.resolve(new Map(Object.entries(PYTHON_SOURCES)));
}

/** The site-packages folders of a virtualenv, whatever its Python version. */
export function sitePackagesOf(venv: string): string[] {
  const found: string[] = [];
  for (const lib of ["lib", "lib64"]) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(`${venv}/${lib}`)];
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.isDirectory || !entry.name.startsWith("python")) continue;
      const site = `${venv}/${lib}/${entry.name}/site-packages`;
      try {
        if (Deno.statSync(site).isDirectory) found.push(site);
      } catch {
        // a venv for another layout: nothing to add from this folder
      }
    }
  }
  return found;
}
