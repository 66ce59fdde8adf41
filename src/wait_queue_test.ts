/** The pool's wait queue (wait_queue.ts through Pool): limits and timeouts. */

import assert from "node:assert/strict";
import type { GroupOptions } from "./config.ts";
import type { RequestBody } from "./request_body.ts";
import {
  answer,
  pool,
  rejectsWith,
  request,
  settle,
} from "./pool_fakes_test.ts";

function streamBody(): RequestBody {
  return {
    kind: "stream",
    reader: new ReadableStream<Uint8Array>().getReader(),
  };
}

/**
 * A pool of one worker, busy with a request whose body streams (such a
 * request waits for an idle worker: nothing is pipelined behind it).
 */
async function busy(options: GroupOptions) {
  const made = pool({ processes: 1, ...options });
  await made.group.ready();
  const first = request(made.group, streamBody());
  await settle();
  return { ...made, first };
}

Deno.test("pool: a full queue answers 503 at once", async () => {
  const { group, workers, first } = await busy({ queueLimit: 1 });
  const waiting = request(group, streamBody());
  await rejectsWith(request(group, streamBody()), 503, /queue full/);
  assert.equal(group.metrics().rejected, 1);
  await answer(workers[0].started[0], first);
  await settle();
  await answer(workers[0].started[1], waiting);
  await group.shutdown();
});

Deno.test("pool: queueTimeout answers 503 after the wait", async () => {
  const { group, workers, first } = await busy({ queueTimeout: 0.1 });
  const started = performance.now();
  await rejectsWith(request(group, streamBody()), 503, /queue timeout/);
  const waited = performance.now() - started;
  assert.ok(waited >= 90 && waited < 1000, `waited ${waited} ms`);
  assert.equal(group.metrics().queueTimeouts, 1);
  await answer(workers[0].started[0], first);
  await group.shutdown();
});
