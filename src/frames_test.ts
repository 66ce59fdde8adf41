import assert from "node:assert/strict";
import { encodeFrame, readFrames } from "./frames.ts";

Deno.test("frames: messages with bytes survive the pipe, split anywhere", async () => {
  const messages = [
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
