/**
 * Readiness and liveness endpoints for a load balancer or Kubernetes:
 * ready once every group has started and until the server begins to stop,
 * live while the server's event loop answers at all.
 *
 * @module
 */

import { registerPath } from "./dispatch.ts";
import { listGroups, type ProcessGroup } from "./groups.ts";
import type { RouterLike } from "./router.ts";
import { serversStopping } from "./connections.ts";

/**
 * Where `mountHealthChecks()` answers.
 *
 * @example Kubernetes' usual names
 * ```ts
 * import type { HealthCheckOptions } from "../mod.ts";
 * const options: HealthCheckOptions = { ready: "/readyz", live: "/livez" };
 * ```
 */
export interface HealthCheckOptions {
  /** URL path of the readiness check. Default "/-/ready". */
  ready?: string;
  /** URL path of the liveness check. Default "/-/live". */
  live?: string;
}

/** Groups whose first start has finished. */
const started = new WeakSet<ProcessGroup>();
const watched = new WeakSet<ProcessGroup>();

/**
 * Whether a group's first start has finished: a worker is up, or its
 * `ready()` settled (workers that failed to start count: the pool keeps
 * replacing them, and the log says why).
 */
function hasStarted(group: ProcessGroup): boolean {
  if (started.has(group)) return true;
  const { idle, busy } = group.metrics().workers;
  if (idle + busy > 0) {
    started.add(group);
    return true;
  }
  if (!watched.has(group)) {
    watched.add(group);
    const done = () => started.add(group);
    group.ready().then(done, done);
  }
  return false;
}

/** Why the server is not ready, or undefined when it is. */
export function notReadyBecause(
  stopping: boolean,
  groups: ProcessGroup[],
): string | undefined {
  if (stopping) return "stopping";
  const waiting = groups.filter((group) => !hasStarted(group));
  if (waiting.length === 0) return undefined;
  return `starting: group ${waiting.map((group) => group.name).join(", ")}`;
}

function answer(status: number, text: string): Response {
  return new Response(text + "\n", {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

/**
 * Mounts a readiness check (200 "ready" once every group has started its
 * workers; 503 before that and from the moment a `serve()` or
 * `serveSite()` server of this process begins to stop) and a liveness
 * check (200 "live" whenever the server answers). Both are answered by
 * the server itself, never by Python, to any client.
 *
 * @example
 * ```ts
 * import { createRouter, mountHealthChecks } from "../mod.ts";
 * const router = createRouter();
 * mountHealthChecks(router);
 * const live = await router.fetch(new Request("http://x/-/live"));
 * if (live.status !== 200) throw new Error("not live");
 * await live.body?.cancel();
 * ```
 */
export function mountHealthChecks(
  router: RouterLike,
  options: HealthCheckOptions = {},
): void {
  const where = "mountHealthChecks()";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where}: options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (key !== "ready" && key !== "live") {
      throw new TypeError(
        `${where}: unknown option "${key}"; the options are ready, live`,
      );
    }
  }
  const ready = options.ready ?? "/-/ready";
  const live = options.live ?? "/-/live";
  for (const [name, path] of [["ready", ready], ["live", live]]) {
    if (typeof path !== "string" || !path.startsWith("/")) {
      throw new TypeError(
        `${where}: option "${name}" must be a URL path starting with "/", got ${
          JSON.stringify(path)
        }`,
      );
    }
  }
  if (ready === live) {
    throw new TypeError(
      `${where}: options "ready" and "live" must differ, both are ${
        JSON.stringify(ready)
      }`,
    );
  }
  registerPath(router, ready, () => {
    const why = notReadyBecause(serversStopping(), listGroups());
    return why === undefined ? answer(200, "ready") : answer(503, why);
  });
  registerPath(router, live, () => answer(200, "live"));
}
