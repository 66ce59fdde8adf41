/**
 * Installs the Python packages that the framework tests, examples and
 * benchmark use (tests/requirements.txt, exact pins) with pip from PyPI into
 * a git-ignored folder, once: a stamp file records what was installed, so
 * later calls return at once.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const REQUIREMENTS = join(ROOT, "tests", "requirements.txt");
const STAMP = ".deno-wsgi-stamp";

/** Options of `ensurePythonPackages()`. */
export interface PythonPackagesOptions {
  /**
   * The folder to install into. Default `.cache/site-packages` (for
   * Pyodide), or `.cache/site-packages-cpython` with `forHost`.
   */
  target?: string;
  /**
   * Install for the host's CPython (the interpreter `python` names, with its
   * compiled speed-ups) instead of for Pyodide. Default false.
   */
  forHost?: boolean;
  /**
   * The Python whose pip runs. Default: `python3` on PATH, then
   * `/usr/bin/python3`. With `forHost`, the packages are for this Python.
   */
  python?: string;
  /** The requirements file. Default tests/requirements.txt. */
  requirements?: string;
}

/**
 * pip's arguments for Pyodide's Python 3.14: wheels only, exactly the pins,
 * whatever Python the host has. MarkupSafe has no pure-Python wheel: its
 * manylinux wheel brings the pure-Python code, and its C speed-up, which
 * WebAssembly cannot load, is skipped by MarkupSafe itself.
 */
const PYODIDE_ARGS = [
  "--only-binary=:all:",
  "--python-version",
  "3.14",
  "--implementation",
  "cp",
  "--abi",
  "cp314",
  "--abi",
  "none",
  "--platform",
  "any",
  "--platform",
  "manylinux2014_x86_64",
];

async function run(
  command: string,
  args: string[],
): Promise<{ ok: boolean; output: string }> {
  try {
    const result = await new Deno.Command(command, {
      args,
      stdout: "piped",
      stderr: "piped",
      env: { PIP_DISABLE_PIP_VERSION_CHECK: "1" },
    }).output();
    const decoder = new TextDecoder();
    return {
      ok: result.success,
      output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
    };
  } catch (error) {
    return { ok: false, output: (error as Error).message };
  }
}

async function findPip(preferred?: string): Promise<string> {
  const candidates = preferred ? [preferred] : ["python3", "/usr/bin/python3"];
  const tried: string[] = [];
  for (const python of candidates) {
    const { ok, output } = await run(python, ["-m", "pip", "--version"]);
    if (ok) return python;
    tried.push(`${python}: ${output.trim().split("\n").pop()}`);
  }
  throw new Error(
    `No pip found to install the Python packages of tests/requirements.txt (${
      tried.join("; ")
    }); install it, e.g. "apt-get install python3-pip", or pass the python option`,
  );
}

async function readStamp(folder: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(join(folder, STAMP));
  } catch {
    return undefined;
  }
}

async function digest(text: string): Promise<string> {
  const bytes = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

const pending = new Map<string, Promise<string>>();

/**
 * Makes sure the pinned packages of tests/requirements.txt are installed
 * and returns the absolute site-packages folder to put in `pythonPath`.
 * Runs pip (from PyPI, wheels only, `--no-deps`) only when the folder is
 * missing or was made from other requirements; installs into a fresh
 * folder and renames it into place, so a run that is interrupted or races
 * another leaves no half-installed folder.
 *
 * @example Mount Flask from the test packages
 * ```ts ignore
 * import { defineGroup } from "../mod.ts";
 * import { ensurePythonPackages } from "./python_packages.ts";
 * const sitePackages = await ensurePythonPackages();
 * defineGroup("flask", { processes: 1, pythonPath: [sitePackages] });
 * ```
 */
export function ensurePythonPackages(
  options: PythonPackagesOptions = {},
): Promise<string> {
  const target = options.target ??
    join(
      ROOT,
      ".cache",
      options.forHost ? "site-packages-cpython" : "site-packages",
    );
  let done = pending.get(target);
  if (!done) {
    done = install(target, options);
    pending.set(target, done);
    done.catch(() => pending.delete(target));
  }
  return done;
}

async function install(
  target: string,
  options: PythonPackagesOptions,
): Promise<string> {
  const requirements = options.requirements ?? REQUIREMENTS;
  const python = options.forHost ? options.python : undefined;
  const pinned = await Deno.readTextFile(requirements);
  const platformArgs = options.forHost ? ["--only-binary=:all:"] : PYODIDE_ARGS;
  const stamp = await digest(
    JSON.stringify({ pinned, platformArgs, python: python ?? null }),
  );
  if (await readStamp(target) === stamp) return target;
  const pip = await findPip(options.python);
  await Deno.mkdir(dirname(target), { recursive: true });
  const fresh = `${target}.tmp-${Deno.pid}-${Date.now()}`;
  const args = [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--disable-pip-version-check",
    "--no-deps",
    "--no-compile",
    "--target",
    fresh,
    ...platformArgs,
    "-r",
    requirements,
  ];
  const { ok, output } = await run(pip, args);
  if (!ok) {
    await Deno.remove(fresh, { recursive: true }).catch(() => {});
    throw new Error(
      `pip could not install the Python packages of ${requirements} into ${target}:\n${output.trim()}\n` +
        `(command: ${pip} ${
          args.join(" ")
        }); PyPI must be reachable, at least once`,
    );
  }
  await Deno.writeTextFile(join(fresh, STAMP), stamp);
  if (await readStamp(target) === stamp) {
    // Another process finished the same install first.
    await Deno.remove(fresh, { recursive: true });
    return target;
  }
  await Deno.remove(target, { recursive: true }).catch(() => {});
  try {
    await Deno.rename(fresh, target);
  } catch (error) {
    await Deno.remove(fresh, { recursive: true }).catch(() => {});
    if (await readStamp(target) !== stamp) throw error;
  }
  return target;
}

if (import.meta.main) {
  const forHost = Deno.args.includes("--host");
  console.log(await ensurePythonPackages({ forHost }));
}
