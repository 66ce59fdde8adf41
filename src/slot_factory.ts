/**
 * The real slots a group's pool starts: embedded (`processes: 0`), a child
 * process (`isolation: "process"`, with its Deno flags), or a Web Worker.
 *
 * @module
 */

import type { GroupConfig, MountSpec } from "./config.ts";
import { EmbeddedSlot } from "./embedded_slot.ts";
import { processPermissions } from "./permissions.ts";
import type { InterpreterSettings } from "./protocol.ts";
import type { Slot } from "./slot.ts";
import { WorkerSlot } from "./worker_slot.ts";

/** What every interpreter of a group's worker is started with. */
export function settingsOf(config: GroupConfig): InterpreterSettings {
  const { pythonPath, pythonHome, home, env, preload, threads } = config;
  const { allowNet, writable } = config;
  // A sandboxed process may read snapshots but not write them: its
  // permissions name no write access to the snapshot folder.
  const snapshot = config.snapshot && config.permissions
    ? { ...config.snapshot, write: false }
    : config.snapshot;
  return {
    group: config.name,
    ...{ pythonPath, pythonHome, home, env, preload, threads },
    ...{ allowNet, writable, snapshot },
  };
}

/** Starts the slot a group's options ask for. */
export function createSlot(
  config: GroupConfig,
  mounts: MountSpec[],
): { slot: Slot; reads?: string[] } {
  const settings = settingsOf(config);
  if (config.processes === 0) {
    const slot = new EmbeddedSlot(settings, mounts, {
      requestTimeout: config.requestTimeout,
    });
    return { slot };
  }
  if (config.isolation === "process") {
    const { flags, reads } = processPermissions(config, mounts);
    const slot = new WorkerSlot(settings, mounts, {
      isolation: "process",
      permissions: flags,
    });
    return { slot, reads };
  }
  return { slot: new WorkerSlot(settings, mounts) };
}
