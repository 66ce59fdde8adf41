/**
 * Deadlines that are nearly always cleared before they ring (a request's
 * queue and request timeouts), kept under one timer. Deno 2.9's
 * `setTimeout` builds a Node `Timeout` object per call: three per request
 * cost about 10 µs of the server's CPU per hello-world request through a
 * worker process (a profile, 2026-12-03). Here setting and clearing one is
 * a Set's add and delete; the one timer is armed for the earliest deadline
 * and moved only when an earlier one comes, which with one timeout per
 * kind (later requests, later deadlines) is rare.
 *
 * @module
 */

/** A deadline set with `setAlarm`. */
export interface Alarm {
  /** When it rings, on `performance.now()`'s clock. */
  readonly at: number;
  readonly ring: () => void;
}

const pending = new Set<Alarm>();
let timer: ReturnType<typeof setTimeout> | undefined;
/** When the timer is armed for; Infinity while it is not. */
let armedFor = Infinity;

function arm(at: number): void {
  if (timer !== undefined) clearTimeout(timer);
  armedFor = at;
  timer = setTimeout(ringDue, Math.max(0, at - performance.now()));
}

function disarm(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  armedFor = Infinity;
}

function ringDue(): void {
  timer = undefined;
  armedFor = Infinity;
  // A timer may fire a little early: a millisecond counts as due.
  const now = performance.now() + 1;
  const due: Alarm[] = [];
  let next = Infinity;
  for (const alarm of pending) {
    if (alarm.at <= now) due.push(alarm);
    else if (alarm.at < next) next = alarm.at;
  }
  for (const alarm of due) pending.delete(alarm);
  if (next < Infinity) arm(next);
  for (const alarm of due) alarm.ring();
}

/**
 * Calls `ring` after `delayMs` milliseconds unless `clearAlarm` comes
 * first, like `setTimeout`.
 */
export function setAlarm(delayMs: number, ring: () => void): Alarm {
  const alarm = { at: performance.now() + Math.max(0, delayMs), ring };
  pending.add(alarm);
  if (alarm.at < armedFor) arm(alarm.at);
  return alarm;
}

/** Stops an alarm from ringing; nothing happens for one that rang or was cleared. */
export function clearAlarm(alarm: Alarm | undefined): void {
  if (alarm === undefined || !pending.delete(alarm)) return;
  // Nothing left to wait for: no timer holds the process (or a test) open.
  if (pending.size === 0) disarm();
}

/** Alarms set and not yet rung or cleared. */
export function pendingAlarms(): number {
  return pending.size;
}
