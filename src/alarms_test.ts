import assert from "node:assert/strict";
import { clearAlarm, pendingAlarms, setAlarm } from "./alarms.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("alarms: each rings at its own time, in order, once", async () => {
  const rung: string[] = [];
  const started = performance.now();
  const times: Record<string, number> = {};
  const ring = (name: string) => () => {
    rung.push(name);
    times[name] = performance.now() - started;
  };
  setAlarm(60, ring("late"));
  setAlarm(20, ring("early")); // earlier than the armed one: re-armed
  setAlarm(40, ring("middle"));
  await sleep(120);
  assert.deepEqual(rung, ["early", "middle", "late"]);
  assert.ok(times.early >= 19 && times.early < 50, `early at ${times.early}`);
  assert.ok(times.late >= 59, `late at ${times.late}`);
  assert.equal(pendingAlarms(), 0);
});

Deno.test("alarms: a cleared one never rings, and the last cleared leaves no timer behind", async () => {
  let rang = 0;
  const first = setAlarm(10, () => rang++);
  const second = setAlarm(30, () => rang++);
  clearAlarm(first);
  await sleep(20);
  assert.equal(rang, 0, "the cleared earliest did not ring");
  assert.equal(pendingAlarms(), 1);
  clearAlarm(second);
  clearAlarm(second); // twice is harmless
  clearAlarm(undefined);
  assert.equal(pendingAlarms(), 0);
  // The test's op sanitizer fails it if a timer were still pending here.
});

Deno.test("alarms: an alarm set while one rings, and one that sets another, both ring", async () => {
  const rung: string[] = [];
  setAlarm(5, () => {
    rung.push("first");
    setAlarm(5, () => rung.push("set while ringing"));
  });
  await sleep(40);
  assert.deepEqual(rung, ["first", "set while ringing"]);
});
