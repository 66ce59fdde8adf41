import assert from "node:assert/strict";
import { newRecord, type WorkerRecord } from "./records.ts";
import * as staffing from "./staffing.ts";
import type { PythonWorker } from "./worker.ts";

/** A record in `state`; staffing never calls its worker. */
function record(
  state: WorkerRecord["state"],
  fields: Partial<WorkerRecord> = {},
): WorkerRecord {
  const python = { ready: Promise.resolve() } as unknown as PythonWorker;
  return Object.assign(newRecord(python, { generation: 1 }), { state }, fields);
}

Deno.test("staffing: working counts the workers that serve and last", () => {
  const workers = [
    record("idle"),
    record("busy", { served: 9 }),
    record("starting"),
    record("stopping"),
    record("idle", { spare: true }),
    record("idle", { generation: 0 }),
    record("idle", { recycleWhenDone: "memoryLimit" }),
  ];
  assert.equal(staffing.working(workers, 1, 0), 3);
  assert.equal(staffing.working(workers, 1, 10), 3);
  assert.equal(staffing.working(workers, 1, 9), 2, "maximumRequests reached");
});

Deno.test("staffing: starting workers and spares are told apart", () => {
  assert.equal(
    staffing.anyStarting([record("starting", { spare: true })]),
    false,
  );
  assert.equal(
    staffing.anyStarting([record("idle"), record("starting")]),
    true,
  );
  assert.equal(
    staffing.spares([
      record("idle", { spare: true }),
      record("starting"),
      record("starting", { spare: true }),
    ]),
    2,
  );
});

Deno.test("staffing: a spare that is up takes over first, else one starting", () => {
  const starting = record("starting", { spare: true });
  const up = record("idle", { spare: true });
  assert.equal(staffing.nextSpare([record("idle"), starting, up]), up);
  assert.equal(staffing.nextSpare([record("idle"), starting]), starting);
  assert.equal(staffing.nextSpare([record("idle")]), undefined);
});

Deno.test("staffing: wanted is processes, or on demand with inactivityTimeout", () => {
  const busy = [record("busy"), record("idle")];
  const eager = { processes: 4, inactivityTimeout: 0 };
  assert.equal(staffing.wanted(eager, busy, 0), 4);
  assert.equal(
    staffing.wanted({ ...eager, processes: 0 }, [], 0),
    1,
    "embedded: one",
  );
  const lazy = { processes: 4, inactivityTimeout: 30 };
  assert.equal(staffing.wanted(lazy, [], 0), 1, "one while nothing waits");
  assert.equal(
    staffing.wanted(lazy, busy, 2),
    3,
    "one more per waiting request",
  );
  assert.equal(staffing.wanted(lazy, busy, 9), 4, "never above processes");
});

Deno.test("staffing: serving needs a worker up that is not a spare", () => {
  assert.equal(
    staffing.serving([record("starting"), record("stopping")]),
    false,
  );
  assert.equal(staffing.serving([record("idle", { spare: true })]), false);
  assert.equal(staffing.serving([record("starting"), record("busy")]), true);
});
