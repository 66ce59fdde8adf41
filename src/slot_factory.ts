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
function settingsOf(config: GroupConfig): InterpreterSettings {
  const { pythonPath, pythonHome, home, preload, threads } = config;
  const { allowNet, writable } = config;
  const env = {
    ...inheritedEnvironment(config.inheritEnv, config.name),
    ...config.env,
  };
  return {
    group: config.name,
    ...{ pythonPath, pythonHome, home, env, preload, threads },
    ...{ allowNet, writable },
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
