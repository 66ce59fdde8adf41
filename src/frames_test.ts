import assert from "node:assert/strict";
import {
  encodeFrame,
  framePieces,
  readFrames,
  readFramesFrom,
} from "./frames.ts";

const MESSAGES = [
  { t: "begin", id: 1, body: new Uint8Array([0, 255, 10]) },
  { t: "log", message: "héllo\n" },
  { t: "chunk", id: 1, chunk: new Uint8Array(70_000).fill(7), done: true },
  {
    t: "head",
    id: 2,
    head: { status: 200, headers: [["a", "b"]], chunk: new Uint8Array([1]) },
  },
  {
    t: "list",
    items: [new Uint8Array([2]), { deeper: [new Uint8Array(0)] }],
  },
  // Only empty byte arrays: a frame with no tail still has them.
  { t: "begin", id: 2, body: new Uint8Array(0) },
];

Deno.test("frames: messages with bytes survive the pipe, split anywhere", async () => {
  const messages = MESSAGES;
  const bytes = new Uint8Array(
    messages.flatMap((message) => [...encodeFrame(message)]),
  );
  // Deliver in uneven pieces, as a pipe may.
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < bytes.length; at += 4099) {
        controller.enqueue(bytes.slice(at, at + 4099));
      }
      controller.close();
    },
  });
  const got: unknown[] = [];
  for await (const message of readFrames(stream)) got.push(message);
  assert.deepEqual(got, messages);
});

Deno.test("frames: encoding leaves the message as it was", () => {
  const chunk = new Uint8Array([1, 2]);
  const message = { t: "head", head: { chunk, headers: [["a", "b"]] } };
  encodeFrame(message);
  assert.equal(message.head.chunk, chunk);
});

Deno.test("frames: read from a connection, whatever each read returns, small frames and ones larger than the buffer", async () => {
  // Pieces as a writer sends them: a large tail after its head, unjoined.
  const written = [
    ...MESSAGES,
    { t: "chunk", id: 3, chunk: new Uint8Array(300_000).fill(9), done: false },
    { t: "log", message: "after" },
  ].flatMap((message) => framePieces(message, 1000));
  const bytes = new Uint8Array(written.flatMap((piece) => [...piece]));
  for (const step of [1, 7, 4099, 65536, 1 << 20]) {
    let at = 0;
    const reader = {
      read(into: Uint8Array): Promise<number | null> {
        if (at >= bytes.length) return Promise.resolve(null);
        const count = Math.min(step, into.byteLength, bytes.length - at);
        into.set(bytes.subarray(at, at + count));
        at += count;
        return Promise.resolve(count);
      },
    };
    const got: unknown[] = [];
    for await (const message of readFramesFrom(reader, 65536)) {
      got.push(message);
    }
    assert.equal(got.length, MESSAGES.length + 2, `reads of ${step}`);
    assert.deepEqual(got.slice(0, MESSAGES.length), MESSAGES);
    const large = got[MESSAGES.length] as { chunk: Uint8Array };
    assert.equal(large.chunk.byteLength, 300_000);
    assert.ok(large.chunk.every((byte) => byte === 9));
    assert.deepEqual(got.at(-1), { t: "log", message: "after" });
  }
});

Deno.test("frames: a frame torn at the end of the connection is dropped", async () => {
  const whole = encodeFrame({ t: "log", message: "whole" });
  const torn = encodeFrame({ t: "log", message: "torn" }).subarray(0, 10);
  const bytes = new Uint8Array([...whole, ...torn]);
  let done = false;
  const reader = {
    read(into: Uint8Array): Promise<number | null> {
      if (done) return Promise.resolve(null);
      done = true;
      into.set(bytes);
      return Promise.resolve(bytes.length);
    },
  };
  const got: unknown[] = [];
  for await (const message of readFramesFrom(reader)) got.push(message);
  assert.deepEqual(got, [{ t: "log", message: "whole" }]);
});
