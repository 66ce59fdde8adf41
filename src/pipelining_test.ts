import assert from "node:assert/strict";
import { newRecord, type WorkerRecord } from "./records.ts";
import {
  pipelinedCount,
  pipelineTarget,
  STEAL_AFTER_MS,
  stealFrom,
} from "./pipelining.ts";
import type { PythonWorker } from "./worker.ts";

function worker(fields: Partial<WorkerRecord>): WorkerRecord {
  const python = { ready: Promise.resolve() } as PythonWorker;
  const record = newRecord(python, { generation: 0 });
  return { ...record, state: "busy", served: 1, pending: 1, ...fields };
}

Deno.test("pipelining: counts requests waiting behind running ones", () => {
  assert.equal(
    pipelinedCount([
      worker({ pending: 3 }),
      worker({ pending: 2, dropping: 1 }),
      worker({ pending: 0, state: "idle" }),
    ]),
    2,
  );
});

Deno.test("pipelining: with threads, running requests are not waiting", () => {
  // Two requests running on a worker with threads: 2 wait behind nothing,
  // so they fill neither queueLimit nor queueLength.
  assert.equal(pipelinedCount([worker({ pending: 2 })], 2), 0);
  assert.equal(pipelinedCount([worker({ pending: 2 })]), 1);
});

Deno.test("pipelining: the least loaded busy worker that may take more", () => {
  const full = worker({ pending: 4 });
  const light = worker({ pending: 2 });
  const lighter = worker({ pending: 1 });
  assert.equal(pipelineTarget([full, light, lighter], 0, 0), lighter);
  assert.equal(pipelineTarget([full], 0, 0), undefined, "PIPELINE_DEPTH");
  const old = worker({ generation: 1 });
  assert.equal(pipelineTarget([old], 2, 0), undefined, "older generation");
  const due = worker({ served: 5 });
  assert.equal(pipelineTarget([due], 0, 5), undefined, "maximumRequests");
  const going = worker({ stopWhenDone: "broken" });
  assert.equal(pipelineTarget([going], 0, 0), undefined, "stopWhenDone");
  assert.equal(pipelineTarget([worker({ state: "idle" })], 0, 0), undefined);
});

Deno.test("stealing: only behind a request that has run STEAL_AFTER_MS", () => {
  const turn = () => {};
  const young = worker({ since: 1000, turns: [turn] });
  const old = worker({ since: 0, turns: [turn, turn] });
  assert.deepEqual(stealFrom([young], 1010), {
    retryAt: 1000 + STEAL_AFTER_MS,
  });
  assert.equal(stealFrom([young, old], 1010).from, old);
  assert.deepEqual(stealFrom([worker({})], 1010), {});
});
