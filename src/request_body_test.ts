import assert from "node:assert/strict";
import type { BodySettings } from "./body_limits.ts";
import { readBodyBatch, takeRequestBody } from "./request_body.ts";

const settings: BodySettings = {
  limit: 0,
  buffering: true,
  bufferSize: 1024,
  timeout: 0,
  minRate: 0,
};

/** A POST whose body arrives in chunks of these sizes (chunked: no length). */
function post(sizes: number[], length?: number): Request {
  const body = ReadableStream.from(sizes.map((size) => new Uint8Array(size)));
  const headers = length === undefined
    ? undefined
    : { "content-length": String(length) };
  return new Request("http://x/", { method: "POST", body, headers });
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>) {
  let size = 0;
  for (let batch; (batch = await readBodyBatch(reader));) size += batch.length;
  return size;
}

Deno.test("no body, or a body within bodyBufferSize read whole into memory", async () => {
  const none = await takeRequestBody(new Request("http://x/"), settings);
  assert.deepEqual(none.body, { kind: "none" });
  const small = await takeRequestBody(post([500, 500]), settings);
  assert.equal(small.body.kind, "bytes");
  assert.equal(small.length, 1000);
});

Deno.test("a buffered body over bodyBufferSize goes to a file and comes back as a stream", async () => {
  const folder = await Deno.makeTempDir({ prefix: "request-body-test-" });
  try {
    const taken = await takeRequestBody(post([1000, 1000, 3000]), {
      ...settings,
      folder,
    });
    assert.equal(taken.length, 5000);
    assert.equal(taken.body.kind, "stream");
    if (taken.body.kind === "stream") {
      assert.equal(await drain(taken.body.reader), 5000);
    }
    taken.release();
    taken.release();
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("a buffered body over limitRequestBody is refused with 413 before any worker", async () => {
  await assert.rejects(
    takeRequestBody(post([600, 600]), { ...settings, limit: 1000 }),
    (error: Error & { status?: number }) => error.status === 413,
  );
});

Deno.test("without buffering, a small body with a length is read whole; others stream", async () => {
  const off = { ...settings, buffering: false };
  const small = await takeRequestBody(post([100, 100], 200), off);
  assert.equal(small.body.kind, "bytes");
  const chunked = await takeRequestBody(post([100, 100]), off);
  assert.equal(chunked.body.kind, "stream");
  assert.equal(chunked.length, undefined);
  if (chunked.body.kind === "stream") {
    assert.equal(await drain(chunked.body.reader), 200);
  }
  chunked.release();
});
