/**
 * The process-wide table of named process groups (`defineGroup`) and the
 * shutdown of all of them.
 *
 * @module
 */

import type { GroupOptions } from "./config.ts";
import { resolveGroupOptions } from "./group_options.ts";
import { log } from "./logging.ts";
import type { GroupMetrics } from "./metrics.ts";
import { Pool } from "./pools.ts";
import { checkIsolation, createWorker } from "./worker_factory.ts";

/** The group a mount uses when it names none. */
export const DEFAULT_GROUP = "default";

/**
 * A named pool of interpreters that mounts are routed to: mod_wsgi's
 * `WSGIDaemonProcess`. Made by `defineGroup()`; mounts name it in their
 * `group` option, or are given the object itself.
 *
 * @example A status endpoint
 * ```ts
 * import { createRouter, defineGroup } from "../mod.ts";
 *
 * const shop = defineGroup("shop-status", { processes: 2 });
 * const router = createRouter();
 * router.all("/status/shop", () => Response.json(shop.metrics()));
 * const response = await router.fetch(new Request("http://x/status/shop"));
 * if ((await response.json()).processes !== 2) throw new Error("metrics");
 * await shop.shutdown();
 * ```
 */
export interface ProcessGroup {
  /** The name given to `defineGroup()`. */
  readonly name: string;
  /** Waits until the group's workers have started (or failed to). */
  ready(): Promise<void>;
  /**
   * Graceful restart: new workers start at once; requests in flight finish
   * on the old ones, which then stop. Resolves when the new ones are ready.
   */
  restart(): Promise<void>;
  /**
   * Stops taking requests, lets those in flight run up to
   * `gracefulTimeout`, then stops every worker.
   */
  shutdown(): Promise<void>;
  /** Counts for a status page or a Prometheus export. */
  metrics(): GroupMetrics;
}

const groups = new Map<string, Pool>();
let signalsHandled = false;

/**
 * Defines a process group: mod_wsgi's `WSGIDaemonProcess`. Mounts name it
 * in their `group` option, or get the returned object itself.
 *
 * @example Two workers, recycled every 1000 requests
 * ```ts
 * import { createRouter, defineGroup, mountWsgi } from "../mod.ts";
 * const shop = defineGroup("shop-example", { processes: 2, maximumRequests: 1000 });
 * const router = createRouter();
 * mountWsgi(router, "/shop", "./examples/hello/app.wsgi", { group: shop });
 * await shop.shutdown(); // before it started: nothing runs
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
  checkIsolation(config);
  const group = new Pool(config, createWorker);
  groups.set(name, group);
  handleSignals();
  return group;
}

/**
 * The group with this name, or undefined. The default group is made on first use.
 *
 * @example
 * ```ts
 * import { defineGroup, getGroup } from "../mod.ts";
 * const api = defineGroup("api-lookup", { processes: 1 });
 * if (getGroup("api-lookup") !== api) throw new Error("not found");
 * await api.shutdown();
 * ```
 */
export function getGroup(name: string): ProcessGroup | undefined {
  return poolNamed(name);
}

/** The pool behind a group name (for mountWsgi); undefined if none. */
export function poolNamed(name: string): Pool | undefined {
  if (!groups.has(name) && name === DEFAULT_GROUP) {
    defineGroup(DEFAULT_GROUP);
  }
  return groups.get(name);
}

/** The pool behind a group object that `defineGroup()` returned. */
export function poolOf(group: ProcessGroup): Pool | undefined {
  const pool = groups.get(group?.name);
  return pool === group ? pool : undefined;
}

/**
 * Every defined group.
 *
 * @example Metrics of every group
 * ```ts
 * import { listGroups } from "../mod.ts";
 * const all = listGroups().map((group) => group.metrics());
 * ```
 */
export function listGroups(): ProcessGroup[] {
  return [...groups.values()];
}

/**
 * Stops every group: in-flight requests get their groups' gracefulTimeout,
 * then the workers are stopped. The groups are forgotten, so a later
 * mount starts afresh.
 *
 * @example Stop the server, then Python
 * ```ts
 * import { createRouter, shutdown } from "../mod.ts";
 * const server = Deno.serve({ port: 0, onListen() {} }, createRouter().fetch);
 * await server.shutdown();
 * await shutdown();
 * ```
 */
export async function shutdown(): Promise<void> {
  const all = [...groups.values()];
  groups.clear();
  await Promise.all(all.map((group) => group.shutdown()));
}

/**
 * Leaves SIGINT/SIGTERM to the caller (serveSite, which stops its listeners
 * before the groups): the groups then install no handler of their own that
 * could exit while responses are still being written. Returns false when
 * a group already installed one.
 */
export function leaveSignalsToCaller(): boolean {
  if (signalsHandled) return false;
  signalsHandled = true;
  return true;
}

function handleSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  onStopSignals(
    shutdown,
    (signal) =>
      log("info", `${signal}: finishing requests, then stopping workers`),
  );
}

/**
 * Runs `stop` on SIGINT or SIGTERM (SIGINT only on Windows), then exits
 * with 0: a stop that was asked for and carried out is a success to a
 * supervisor (systemd, Kubernetes, a shell's `&&`), as Apache's and
 * gunicorn's are. Where signals cannot be listened to, nothing happens:
 * `stop` is still there to call.
 */
export function onStopSignals(
  stop: () => Promise<void>,
  say: (signal: Deno.Signal) => void,
): void {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const signal of signals) {
    try {
      Deno.addSignalListener(signal, () => {
        say(signal);
        stop().finally(() => Deno.exit(0));
      });
    } catch {
      // No signal permission or support.
    }
  }
}
