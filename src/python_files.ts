/**
 * The files an interpreter starts from: the Python half of the gateway
 * (python/*.py, copied into every interpreter) and a virtualenv's
 * site-packages (`pythonHome`).
 *
 * @module
 */

/** The Python half of the gateway, copied into every interpreter. */
const PYTHON_MODULES = [
  "wsgi_bridge",
  "compat",
  "network",
  "threads",
  "files",
];

/** Reads python/*.py, once per worker. */
export async function readPythonModules(): Promise<Map<string, string>> {
  const sources = new Map<string, string>();
  for (const name of PYTHON_MODULES) {
    const url = new URL(`../python/${name}.py`, import.meta.url);
    sources.set(name, await Deno.readTextFile(url));
  }
  return sources;
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
