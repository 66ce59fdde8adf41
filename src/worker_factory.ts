/**
 * The real workers a group's pool starts: embedded (`processes: 0`), a child
 * process (`isolation: "process"`, with its Deno flags), or a Web Worker.
 *
 * @module
 */

import type { GroupConfig, MountSpec } from "./config.ts";
import { EmbeddedWorker } from "./embedded_worker.ts";
import { processPermissions } from "./permissions.ts";
import type { InterpreterSettings } from "./protocol.ts";
import type { PythonWorker } from "./worker.ts";
import { ChannelWorker } from "./channel_worker.ts";

/** What every interpreter of a group's worker is started with. */
function settingsOf(config: GroupConfig): InterpreterSettings {
  const { pythonPath, pythonHome, home, env, preload, threads } = config;
  const { allowNet, writable } = config;
  return {
    group: config.name,
    ...{ pythonPath, pythonHome, home, env, preload, threads },
    ...{ allowNet, writable },
  };
}

/** Starts the worker a group's options ask for. */
export function createWorker(
  config: GroupConfig,
  mounts: MountSpec[],
): { python: PythonWorker; reads?: string[] } {
  const settings = settingsOf(config);
  if (config.processes === 0) {
    const worker = new EmbeddedWorker(settings, mounts, {
      requestTimeout: config.requestTimeout,
    });
    return { python: worker };
  }
  if (config.isolation === "process") {
    const { flags, reads } = processPermissions(config, mounts);
    const worker = new ChannelWorker(settings, mounts, {
      isolation: "process",
      permissions: flags,
    });
    return { python: worker, reads };
  }
  return { python: new ChannelWorker(settings, mounts) };
}
