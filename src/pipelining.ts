/**
 * Pipelining: when every worker is busy, a request may be handed to a busy
 * worker ahead of time, so that it goes straight on to it instead of
 * falling asleep and being woken per request (waking a thread was most of
 * the server thread's work for a small request). And stealing: requests
 * held behind one that runs long move to a worker that falls idle.
 *
 * @module
 */

import type { Member } from "./members.ts";
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
  members: Iterable<Member>,
  threads = 1,
): number {
  let count = 0;
  for (const member of members) {
    count += Math.max(0, member.pending - threads - member.dropping);
  }
  return count;
}

/**
 * The busy worker that holds the fewest requests, if one can take one more
 * behind those it has: up to PIPELINE_DEPTH in all, none while it drops
 * requests taken back, and never one of an older generation, condemned,
 * or due for recycling at `maximumRequests`.
 */
export function pipelineTarget(
  members: Iterable<Member>,
  generation: number,
  maximumRequests: number,
): Member | undefined {
  let best: Member | undefined;
  for (const member of members) {
    if (
      member.state === "busy" && member.pending < PIPELINE_DEPTH &&
      member.dropping === 0 && member.generation === generation &&
      member.condemned === undefined &&
      (maximumRequests === 0 || member.served < maximumRequests) &&
      (!best || member.pending < best.pending)
    ) best = member;
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
  members: Iterable<Member>,
  now: number,
): { from?: Member; retryAt?: number } {
  let from: Member | undefined;
  let soonest = Infinity;
  for (const member of members) {
    // Several may be taken back from one worker: each request has its
    // own fate word (see protocol.ts).
    if (member.turns.length === 0) continue;
    const due = member.since + STEAL_AFTER_MS;
    if (due > now) {
      soonest = Math.min(soonest, due);
    } else if (!from || member.turns.length > from.turns.length) {
      from = member;
    }
  }
  if (from) return { from };
  return soonest < Infinity ? { retryAt: soonest } : {};
}
