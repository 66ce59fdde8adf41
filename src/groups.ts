/**
 * The process-wide table of named process groups (`defineGroup`) and the
 * shutdown of all of them.
 *
 * @module
 */

import { type GroupOptions, resolveGroupOptions } from "./config.ts";
import { log } from "./logging.ts";
import { ProcessGroup } from "./pools.ts";
import { createSlot } from "./slot_factory.ts";

/** The group a mount uses when it names none. */
export const DEFAULT_GROUP = "default";

const groups = new Map<string, ProcessGroup>();
let signalsHandled = false;

/**
 * Defines a process group: mod_wsgi's `WSGIDaemonProcess`. Mounts name it
 * in their `group` option, or get the returned object itself.
 *
 * @example Two workers, recycled every 1000 requests
 * ```ts ignore
 * import { defineGroup, mountWsgi } from "./mod.ts";
 * const shop = defineGroup("shop", { processes: 2, maximumRequests: 1000 });
 * mountWsgi(app, "/shop", "/srv/shop/app.wsgi", { group: shop });
 * ```
 */
export function defineGroup(
  name: string,
  options: GroupOptions = {},
): ProcessGroup {
  const config = resolveGroupOptions(name, options);
  if (groups.has(name)) {
    throw new Error(
      `defineGroup: a group named "${name}" already exists; pick another name or reuse getGroup("${name}")`,
    );
  }
  const group = new ProcessGroup(config, createSlot);
  groups.set(name, group);
  handleSignals();
  return group;
}

/** The group with this name, or undefined. The default group is made on first use. */
export function getGroup(name: string): ProcessGroup | undefined {
  if (!groups.has(name) && name === DEFAULT_GROUP) {
    return defineGroup(DEFAULT_GROUP);
  }
  return groups.get(name);
}

/** Every defined group. */
export function listGroups(): ProcessGroup[] {
  return [...groups.values()];
}

/**
 * Stops every group: in-flight requests get their groups' gracefulTimeout,
 * then the workers are terminated. The groups are forgotten, so a later
 * mount starts afresh.
 *
 * @example
 * ```ts ignore
 * import { shutdown } from "./mod.ts";
 * await server.shutdown();
 * await shutdown();
 * ```
 */
export async function shutdown(): Promise<void> {
  const all = [...groups.values()];
  groups.clear();
  await Promise.all(all.map((group) => group.shutdown()));
}

function handleSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const signal of signals) {
    try {
      Deno.addSignalListener(signal, () => {
        log("info", `${signal}: finishing requests, then stopping workers`);
        shutdown().finally(() => Deno.exit(signal === "SIGINT" ? 130 : 143));
      });
    } catch {
      // No signal permission or support: shutdown() is still there to call.
    }
  }
}
