/** Back-off between worker starts: the delays, and the start held back. */

import assert from "node:assert/strict";
import { Backoff, restartDelay } from "./backoff.ts";

function settle(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("restartDelay: at once, then 0.5 s doubling up to 30 s", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 20].map(restartDelay),
    [0, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000],
  );
});

Deno.test("Backoff: the first failure starts at once, the next waits", async () => {
  const backoff = new Backoff();
  let starts = 0;
  assert.equal(backoff.until, undefined);
  assert.equal(backoff.failed(() => starts++), 0);
  await settle();
  assert.equal(starts, 1);
  assert.equal(backoff.until, undefined, "nothing held back once started");
  const before = Date.now();
  assert.equal(backoff.failed(() => starts++), 500);
  const until = backoff.until!;
  assert.ok(until >= before + 500 && until <= Date.now() + 500, `${until}`);
  assert.match(backoff.refusal().message, /next start in 1 s/);
  assert.equal(backoff.refusal().status, 503);
  await settle(50);
  assert.equal(starts, 1, "held back");
  backoff.cancel();
  assert.equal(backoff.until, undefined);
});

Deno.test("Backoff: a worker that stays up resets the count", async () => {
  const backoff = new Backoff();
  let starts = 0;
  backoff.failed(() => starts++);
  backoff.failed(() => starts++);
  assert.equal(backoff.failed(() => starts++), 1000, "third in a row");
  backoff.succeeded();
  assert.equal(backoff.failed(() => starts++), 0, "first again");
  await settle();
  // The held-back starts were replaced by the later ones: one start.
  assert.equal(starts, 1);
});
