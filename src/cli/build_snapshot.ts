/**
 * `build-snapshot SCRIPT --snapshot-folder DIR [start-server options]`:
 * the interpreter snapshot a read-only deploy ships, built ahead of time
 * with the same options the server will be started with, so that
 * `start-server ... --snapshot-folder DIR --snapshot-read-only` finds it
 * and never writes.
 *
 * @module
 */

import { buildSnapshot } from "../snapshot_build.ts";
import { planStartServer } from "./start_server.ts";
import { START_SERVER_OPTIONS } from "./start_server_options.ts";
import { helpText, UsageError } from "./usage.ts";

export const BUILD_SNAPSHOT_SUMMARY =
  "build the interpreter snapshot that start-server --snapshot-read-only uses";

/** Builds the snapshot; prints its path; resolves with the exit code. */
export async function buildSnapshotCommand(args: string[]): Promise<number> {
  const plan = planStartServer(args);
  if (plan.help) {
    console.log(helpText(START_SERVER_OPTIONS, {
      usage:
        "deno-wsgi build-snapshot SCRIPT --snapshot-folder DIR [start-server options]",
      summary:
        `${BUILD_SNAPSHOT_SUMMARY}: give it the options the server will get (they shape the snapshot and its name); --snapshot-script puts SCRIPT's import in it too.`,
    }));
    return 0;
  }
  try {
    const group = plan.site.groups.default;
    const snapshot = group.snapshot;
    if (
      typeof snapshot !== "object" || snapshot === null ||
      snapshot.folder === undefined
    ) {
      throw new UsageError("build-snapshot needs --snapshot-folder DIR");
    }
    if (snapshot.script && plan.temporary.length > 0) {
      throw new UsageError(
        "--snapshot-script cannot be built ahead of time with --application-type module: its handler script is a new temporary file at every start",
      );
    }
    const mount = plan.site.mounts[0];
    const path = await buildSnapshot(group, {
      folder: snapshot.folder,
      scripts: snapshot.script
        ? [{ script: mount.script, callable: mount.callable }]
        : [],
    });
    console.log(path);
    return 0;
  } finally {
    for (const folder of plan.temporary) {
      Deno.removeSync(folder, { recursive: true });
    }
  }
}
