/**
 * Building a group's snapshot ahead of time, for deploys that must not
 * write at run time (a container image, an edge bundle): the server is then
 * told `snapshot: { folder, write: false }`.
 *
 * @module
 */

import { type GroupOptions, resolveGroupOptions } from "./config.ts";
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
  target: { folder: string },
): Promise<string> {
  if (typeof target?.folder !== "string" || target.folder === "") {
    throw new TypeError(
      'buildSnapshot: option "folder" must be the folder to save the snapshot in',
    );
  }
  // Built in this isolate: where the workers will run does not matter.
  const { isolation: _isolation, permissions: _permissions, ...heap } =
    options ?? {};
  const config = resolveGroupOptions("snapshot-build", {
    ...heap,
    processes: 0,
    snapshot: { folder: target.folder, write: true },
  });
  const host = new InterpreterHost(
    settingsOf(config),
    (level, message) => log(level, message, { group: "snapshot-build" }),
  );
  const path = await host.prepare();
  if (!path) {
    throw new Error("buildSnapshot: no snapshot was made (see the log)");
  }
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(`buildSnapshot: saving ${path} failed (see the log)`);
  }
  return path;
}
