import assert from "node:assert/strict";
import type { Member } from "./members.ts";
import {
  pipelinedCount,
  pipelineTarget,
  STEAL_AFTER_MS,
  stealFrom,
} from "./pipelining.ts";
import type { Slot } from "./slot.ts";

function member(fields: Partial<Member>): Member {
  return {
    slot: {} as Slot,
    state: "busy",
    served: 1,
    generation: 0,
    failing: new Set(),
    startedAt: 0,
    pending: 1,
    turns: [],
    dropping: 0,
    since: 0,
    ...fields,
  };
}

Deno.test("pipelining: counts requests waiting behind running ones", () => {
  assert.equal(
    pipelinedCount([
      member({ pending: 3 }),
      member({ pending: 2, dropping: 1 }),
      member({ pending: 0, state: "idle" }),
    ]),
    2,
  );
});

Deno.test("pipelining: with threads, running requests are not waiting", () => {
  // Two requests running on a worker with threads: 2 wait behind nothing,
  // so they fill neither queueLimit nor queueLength.
  assert.equal(pipelinedCount([member({ pending: 2 })], 2), 0);
  assert.equal(pipelinedCount([member({ pending: 2 })]), 1);
});

Deno.test("pipelining: the least loaded busy worker that may take more", () => {
  const full = member({ pending: 4 });
  const light = member({ pending: 2 });
  const lighter = member({ pending: 1 });
  assert.equal(pipelineTarget([full, light, lighter], 0, 0), lighter);
  assert.equal(pipelineTarget([full], 0, 0), undefined, "PIPELINE_DEPTH");
  const old = member({ generation: 1 });
  assert.equal(pipelineTarget([old], 2, 0), undefined, "older generation");
  const due = member({ served: 5 });
  assert.equal(pipelineTarget([due], 0, 5), undefined, "maximumRequests");
  const going = member({ condemned: "broken" });
  assert.equal(pipelineTarget([going], 0, 0), undefined, "condemned");
  assert.equal(pipelineTarget([member({ state: "idle" })], 0, 0), undefined);
});

Deno.test("stealing: only behind a request that has run STEAL_AFTER_MS", () => {
  const turn = () => {};
  const young = member({ since: 1000, turns: [turn] });
  const old = member({ since: 0, turns: [turn, turn] });
  assert.deepEqual(stealFrom([young], 1010), {
    retryAt: 1000 + STEAL_AFTER_MS,
  });
  assert.equal(stealFrom([young, old], 1010).from, old);
  assert.deepEqual(stealFrom([member({})], 1010), {});
});
