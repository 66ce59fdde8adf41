import assert from "node:assert/strict";
import {
  BodyDeadline,
  BodyError,
  type BodySettings,
  BodyTimeoutError,
  BodyTooLargeError,
} from "./body_limits.ts";

const settings: BodySettings = {
  limit: 0,
  buffering: true,
  bufferSize: 1024,
  timeout: 0.05,
  minRate: 0,
};

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("the errors carry the status the client gets and name the option", () => {
  const large = new BodyTooLargeError(10);
  assert.ok(large instanceof BodyError);
  assert.equal(large.status, 413);
  assert.equal(large.name, "BodyTooLargeError");
  assert.match(large.message, /limitRequestBody \(10 bytes\)/);
  const late = new BodyTimeoutError({ ...settings, minRate: 500 }, 7);
  assert.equal(late.status, 408);
  assert.equal(
    late.message,
    "the request body did not arrive within bodyTimeout (0.05 s plus 1 s per 500 bytes received); 7 bytes came",
  );
  assert.doesNotMatch(new BodyTimeoutError(settings, 0).message, /plus/);
});

Deno.test("a body deadline expires after bodyTimeout", async () => {
  let expired = 0;
  const deadline = new BodyDeadline(settings, () => expired++);
  assert.equal(deadline.expired, false);
  await tick(120);
  assert.equal(deadline.expired, true);
  assert.equal(expired, 1);
});

Deno.test("each bodyMinRate bytes received add a second", async () => {
  let expired = 0;
  const deadline = new BodyDeadline(
    { ...settings, minRate: 1000 },
    () => expired++,
  );
  deadline.received = 100; // 0.1 s more: 0.15 s in all
  await tick(90);
  assert.equal(expired, 0);
  await tick(150);
  assert.equal(expired, 1);
  assert.equal(deadline.expired, true);
});

Deno.test("a stopped or unlimited deadline never expires", async () => {
  let expired = 0;
  const stopped = new BodyDeadline(settings, () => expired++);
  stopped.stop();
  stopped.stop();
  const unlimited = new BodyDeadline(
    { ...settings, timeout: 0 },
    () => expired++,
  );
  await tick(100);
  assert.equal(expired, 0);
  assert.equal(stopped.expired || unlimited.expired, false);
});

Deno.test("a deadline counts what came, and names the error past the limit", () => {
  const deadline = new BodyDeadline(
    { ...settings, limit: 10, timeout: 0 },
    () => {},
  );
  assert.equal(deadline.count(6), undefined);
  assert.equal(deadline.count(4), undefined, "exactly the limit is allowed");
  const error = deadline.count(1);
  assert.ok(error instanceof BodyTooLargeError);
  assert.equal(deadline.received, 11);
  assert.match(deadline.timedOut().message, /; 11 bytes came$/);
  const unlimited = new BodyDeadline({ ...settings, timeout: 0 }, () => {});
  assert.equal(unlimited.count(1e9), undefined);
});
