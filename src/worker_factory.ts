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
import { log } from "./logging.ts";

function mayRead(variable?: string): boolean {
  const descriptor = { name: "env", variable } as const;
  return Deno.permissions.querySync(descriptor).state === "granted";
}

/**
 * The server's environment as a group inherits it (`inheritEnv`), read
 * when a worker starts, as a daemon would inherit it when forked. HOME is
 * left to the interpreter (whose home exists inside it) unless listed.
 */
export function inheritedEnvironment(
  inherit: boolean | string[],
  group: string,
): Record<string, string> {
  if (inherit === false) return {};
  if (inherit === true) {
    if (!mayRead()) {
      log(
        "info",
        "inheritEnv: the server may not read its environment (--allow-env), so os.environ inherits nothing",
        { group },
      );
      return {};
    }
    const all = Deno.env.toObject();
    delete all.HOME;
    return all;
  }
  const chosen: Record<string, string> = {};
  for (const name of inherit) {
    const value = mayRead(name) ? Deno.env.get(name) : undefined;
    if (value !== undefined) chosen[name] = value;
  }
  return chosen;
}

/** What every interpreter of a group's worker is started with. */
export function settingsOf(config: GroupConfig): InterpreterSettings {
  const { pythonPath, pythonHome, home, env, preload, threads } = config;
  const { allowNet, writable, memoryLimit } = config;
  const inheritedEnv = inheritedEnvironment(config.inheritEnv, config.name);
  // A sandboxed process may read snapshots but not write them: its
  // permissions name no write access to the snapshot folder.
  const snapshot = config.snapshot && config.permissions
    ? { ...config.snapshot, write: false }
    : config.snapshot;
  return {
    group: config.name,
    ...{ pythonPath, pythonHome, home, env, preload, threads },
    ...{ allowNet, writable, snapshot, inheritedEnv, memoryLimit },
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
