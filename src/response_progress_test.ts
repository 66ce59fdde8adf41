import assert from "node:assert/strict";
import {
  CAN_WATCH_STREAMS,
  isStreamed,
  watchBody,
} from "./response_progress.ts";

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

Deno.test("this Deno tells a streamed body from one given whole", () => {
  assert.equal(CAN_WATCH_STREAMS, true);
  assert.equal(isStreamed(new Response(streamOf("a"))), true);
  assert.equal(isStreamed(new Response("text")), false);
  assert.equal(isStreamed(new Response(new Uint8Array(3))), false);
  assert.equal(isStreamed(new Response(null, { status: 204 })), false);
});

Deno.test("a body given whole is handed on as it is", () => {
  const response = new Response("hello");
  assert.equal(watchBody(response, { progress() {} }), response);
});

Deno.test("each chunk the client takes of a streamed body is progress", async () => {
  const times: number[] = [];
  const watched = watchBody(
    new Response(streamOf("a", "b", "c"), {
      status: 201,
      headers: { "x-kept": "1" },
    }),
    { progress: (now) => times.push(now) },
  );
  assert.equal(watched.status, 201);
  assert.equal(watched.headers.get("x-kept"), "1");
  assert.equal(times.length, 0, "nothing taken yet");
  assert.equal(await watched.text(), "abc");
  assert.equal(times.length, 4, "three chunks and the end");
});
