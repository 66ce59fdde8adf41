import assert from "node:assert/strict";
import {
  type BodyError,
  type BodySettings,
  BodyTimeoutError,
  BodyTooLargeError,
} from "./body_limits.ts";
import { streamBody } from "./streamed_body.ts";

/** Streaming settings: only the limit and the timeout matter here. */
function streaming(limit = 0, timeout = 0): BodySettings {
  return { limit, timeout, buffering: false, bufferSize: 0, minRate: 0 };
}

/** A client's body: the chunks given, then (unless `stall`) its end. */
function upload(chunks: number[], stall = false) {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled < chunks.length) {
        controller.enqueue(new Uint8Array(chunks[pulled++]));
      } else if (!stall) controller.close();
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => pulled };
}

Deno.test("a streamed body is read from the client only as the app reads it", async () => {
  const { stream, pulled } = upload([3, 4]);
  const reader = streamBody(stream, streaming());
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(pulled(), 0);
  assert.equal((await reader.read()).value?.length, 3);
  assert.equal((await reader.read()).value?.length, 4);
  assert.equal((await reader.read()).done, true);
});

Deno.test("limitRequestBody is counted as the body streams", async () => {
  const failures: BodyError[] = [];
  const reader = streamBody(
    upload([4, 4, 4]).stream,
    streaming(10),
    (error) => failures.push(error),
  );
  await reader.read();
  await reader.read();
  await assert.rejects(reader.read(), BodyTooLargeError);
  assert.equal(failures.length, 1);
  assert.ok(failures[0] instanceof BodyTooLargeError);
});

Deno.test("bodyTimeout runs from the app's first read", async () => {
  const failures: BodyError[] = [];
  const reader = streamBody(
    upload([5], true).stream,
    streaming(0, 0.05),
    (error) => failures.push(error),
  );
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal((await reader.read()).value?.length, 5, "not yet started");
  await assert.rejects(reader.read(), BodyTimeoutError);
  assert.match(failures[0].message, /; 5 bytes came$/);
});
