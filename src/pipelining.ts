/**
 * Pipelining: when every worker is busy, a request may be handed to a busy
 * worker ahead of time, so that it goes straight on to it instead of
 * falling asleep and being woken per request (waking a thread was most of
 * the server thread's work for a small request). And stealing: requests
 * held behind one that runs long move to a worker that falls idle.
 *
 * @module
 */

import { lasting, type WorkerRecord } from "./records.ts";
import { PIPELINE_DEPTH } from "./protocol.ts";

/**
 * How long a request must have run before those pipelined behind it move
 * to a worker that falls idle: under a burst of quick requests workers
 * fall idle for a moment all the time.
 */
export const STEAL_AFTER_MS = 50;

/**
 * Requests handed to busy workers ahead of time, not started yet. A worker
 * runs `threads` requests at once: those are running, not waiting.
 */
export function pipelinedCount(
  workers: Iterable<WorkerRecord>,
  threads = 1,
): number {
  let count = 0;
  for (const worker of workers) {
    count += Math.max(0, worker.pending - threads - worker.dropping);
  }
  return count;
}

/**
 * The busy worker that holds the fewest requests, if one can take one more
 * behind those it has: up to PIPELINE_DEPTH in all, none while it drops
 * requests taken back, and never one of an older generation, stopWhenDone,
 * or due for recycling at `maximumRequests`.
 */
export function pipelineTarget(
  workers: Iterable<WorkerRecord>,
  generation: number,
  maximumRequests: number,
): WorkerRecord | undefined {
  let best: WorkerRecord | undefined;
  for (const worker of workers) {
    if (
      worker.state === "busy" && worker.pending < PIPELINE_DEPTH &&
      worker.dropping === 0 &&
      lasting(worker, generation, maximumRequests) &&
      (!best || worker.pending < best.pending)
    ) best = worker;
  }
  return best;
}

/**
 * The worker whose last pipelined request should move to an idle worker:
 * the one holding most, among those whose running request has run for
 * STEAL_AFTER_MS. Otherwise, when to look again (`retryAt`, ms since the
 * epoch), if any worker holds pipelined requests at all.
 */
export function stealFrom(
  workers: Iterable<WorkerRecord>,
  now: number,
): { from?: WorkerRecord; retryAt?: number } {
  let from: WorkerRecord | undefined;
  let soonest = Infinity;
  for (const worker of workers) {
    // Several may be taken back from one worker: each request has its
    // own fate word (see protocol.ts).
    if (worker.turns.length === 0) continue;
    const due = worker.since + STEAL_AFTER_MS;
    if (due > now) {
      soonest = Math.min(soonest, due);
    } else if (!from || worker.turns.length > from.turns.length) {
      from = worker;
    }
  }
  if (from) return { from };
  return soonest < Infinity ? { retryAt: soonest } : {};
}
