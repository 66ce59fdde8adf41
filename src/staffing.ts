/**
 * How many workers a group has and wants, counted over its workers: those
 * that serve and last, those starting, the spares (spareWorkers), and which
 * spare takes over when one is missing. Pure, so that the pool's size is
 * tested without workers; supervisor.ts starts and stops them.
 *
 * @module
 */

import type { GroupConfig } from "./config.ts";
import { lasting, type WorkerRecord } from "./records.ts";

/** Workers that serve, or will once started, and are not due to stop. */
export function working(
  workers: Iterable<WorkerRecord>,
  generation: number,
  maximumRequests: number,
): number {
  let current = 0;
  for (const worker of workers) {
    if (
      !worker.spare && worker.state !== "stopping" &&
      lasting(worker, generation, maximumRequests)
    ) current++;
  }
  return current;
}

/** True while a worker that is not a spare is starting. */
export function anyStarting(workers: Iterable<WorkerRecord>): boolean {
  for (const worker of workers) {
    if (!worker.spare && worker.state === "starting") return true;
  }
  return false;
}

/** The spares, starting or up. */
export function spares(workers: Iterable<WorkerRecord>): number {
  let current = 0;
  for (const worker of workers) {
    if (worker.spare) current++;
  }
  return current;
}

/**
 * The spare that takes a missing worker's place: one that is up, else one
 * still starting (it serves once up, and no second worker starts beside
 * it); undefined when there is none.
 */
export function nextSpare(
  workers: Iterable<WorkerRecord>,
): WorkerRecord | undefined {
  const all = [...workers].filter((w) => w.spare);
  return all.find((w) => w.state === "idle") ?? all[0];
}

/**
 * How many workers should be up: `processes` (at least one). With an
 * inactivity timeout, workers start on demand, not eagerly: one, and one
 * more for each request that waits.
 */
export function wanted(
  config: Pick<GroupConfig, "processes" | "inactivityTimeout">,
  workers: Iterable<WorkerRecord>,
  waiting: number,
): number {
  const configured = Math.max(1, config.processes);
  if (config.inactivityTimeout === 0) return configured;
  let busy = 0;
  for (const worker of workers) {
    if (worker.state === "busy") busy++;
  }
  return Math.min(configured, busy + Math.max(1, waiting));
}

/** True when some worker is up (idle or busy), so the queue will move. */
export function serving(workers: Iterable<WorkerRecord>): boolean {
  for (const worker of workers) {
    if (worker.spare) continue;
    if (worker.state === "idle" || worker.state === "busy") return true;
  }
  return false;
}
