/**
 * Building a group's snapshot ahead of time, for deploys that must not
 * write at run time (a container image, an edge bundle): the server is then
 * told `snapshot: { folder, write: false }`.
 *
 * @module
 */

import { resolve } from "node:path";
import type { GroupOptions, MountSpec } from "./config.ts";
import { resolveGroupOptions } from "./group_options.ts";
import { InterpreterHost } from "./interpreters.ts";
import { log } from "./logging.ts";
import { settingsOf } from "./worker_factory.ts";

/**
 * Starts an interpreter with a group's options in this isolate, saves its
 * snapshot in `folder` (imports of `preload` included) and returns the
 * file's path. Build it where it will run: the snapshot's name covers the
 * modification times of the files under `pythonPath`, so a copy that does
 * not keep them (use `cp -p`, `tar`, or build inside the image) is not
 * recognised and the server starts without it.
 *
 * With `scripts`, the snapshot is taken after those WSGI scripts are
 * imported too (`snapshot.script`), for a server that mounts exactly these
 * scripts (same paths, callables and pythonPath) into one interpreter, as
 * `start-server` does. The script's import then runs here, with this
 * process's environment, which is in the snapshot and its name: build
 * with the environment the server will have.
 *
 * @example Build the snapshot a read-only server will use

 * ```ts
 * import { buildSnapshot, defineGroup } from "../mod.ts";
 * const folder = await Deno.makeTempDir();
 * const path = await buildSnapshot({ preload: ["json"] }, { folder });
 * const group = defineGroup("prebuilt", {
 *   processes: 0,
 *   preload: ["json"],
 *   snapshot: { folder, write: false },
 * });
 * await group.shutdown();
 * console.log(path);
 * ```
 */
export async function buildSnapshot(
  options: GroupOptions,
  target: {
    folder: string;
    scripts?: { script: string; callable?: string; pythonPath?: string[] }[];
  },
): Promise<string> {
  if (typeof target?.folder !== "string" || target.folder === "") {
    throw new TypeError(
      'buildSnapshot: option "folder" must be the folder to save the snapshot in',
    );
  }
  const scripts = target.scripts ?? [];
  if (!Array.isArray(scripts)) {
    throw new TypeError(
      'buildSnapshot: option "scripts" must be a list of { script, callable?, pythonPath? }',
    );
  }
  const mounts = scripts.map((entry, index): MountSpec => {
    const { script, callable = "application", pythonPath = [] } = entry ?? {};
    if (
      typeof script !== "string" || script === "" ||
      typeof callable !== "string" || !Array.isArray(pythonPath) ||
      pythonPath.some((path) => typeof path !== "string")
    ) {
      throw new TypeError(
        `buildSnapshot: option "scripts" item ${index} must be { script: string, callable?: string, pythonPath?: string[] }`,
      );
    }
    return {
      id: `build${index}`,
      prefix: "",
      scriptPath: resolve(script),
      callable,
      // One interpreter holds them all, the one prepare() starts.
      applicationGroup: "%{GLOBAL}",
      pythonPath: pythonPath.map((path) => resolve(path)),
      group: "snapshot-build",
      multiprocess: false,
      multithread: false,
    };
  });
  // Built in this isolate: where the workers will run does not matter.
  const { isolation: _isolation, permissions: _permissions, ...heap } =
    options ?? {};
  const config = resolveGroupOptions("snapshot-build", {
    ...heap,
    processes: 0,
    snapshot: {
      folder: target.folder,
      write: true,
      script: mounts.length > 0,
    },
  });
  const host = new InterpreterHost(
    settingsOf(config),
    (level, message) => log(level, message, { group: "snapshot-build" }),
    { mounts },
  );
  const { path, scripted } = await host.prepare();
  if (!path) {
    throw new Error("buildSnapshot: no snapshot was made (see the log)");
  }
  if (mounts.length > 0 && !scripted) {
    throw new Error(
      `buildSnapshot: the scripts could not be imported into the snapshot (see the log); ${path} holds the interpreter without them`,
    );
  }
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(`buildSnapshot: saving ${path} failed (see the log)`);
  }
  return path;
}
