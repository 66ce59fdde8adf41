import assert from "node:assert/strict";
import {
  contentRange,
  MAX_RANGES,
  multipartBody,
  requestedRanges,
} from "./byte_ranges.ts";

Deno.test("byte_ranges: single, suffix and open ranges; the unit in any case", () => {
  assert.deepEqual(requestedRanges("bytes=0-4", 20), [{ start: 0, end: 4 }]);
  assert.deepEqual(requestedRanges("BYTES = 5-", 20), [{ start: 5, end: 19 }]);
  assert.deepEqual(requestedRanges("bytes=-3", 20), [{ start: 17, end: 19 }]);
  assert.deepEqual(requestedRanges("bytes=10-99", 20), [{
    start: 10,
    end: 19,
  }]);
  // A suffix longer than the file is the whole file, not 416.
  assert.deepEqual(requestedRanges("bytes=-50", 20), [{ start: 0, end: 19 }]);
  assert.equal(contentRange({ start: 0, end: 4 }, 20), "bytes 0-4/20");
});

Deno.test("byte_ranges: unsatisfiable, malformed, other units and too many ranges", () => {
  assert.equal(requestedRanges("bytes=20-", 20), "unsatisfiable");
  assert.equal(requestedRanges("bytes=0-0", 0), "unsatisfiable");
  assert.equal(requestedRanges("bytes=abc", 20), null);
  assert.equal(requestedRanges("items=0-4", 20), null);
  const many = Array.from(
    { length: MAX_RANGES + 1 },
    (_, i) => `${i * 3}-${i * 3}`,
  );
  assert.equal(requestedRanges(`bytes=${many.join(",")}`, 1000), null);
  assert.equal(
    (requestedRanges(`bytes=${many.slice(1).join(",")}`, 1000) as unknown[])
      .length,
    MAX_RANGES,
  );
});

Deno.test("byte_ranges: overlapping ranges are merged", () => {
  assert.deepEqual(requestedRanges("bytes=0-4,3-8,15-", 20), [
    { start: 0, end: 8 },
    { start: 15, end: 19 },
  ]);
});

Deno.test("byte_ranges: a multipart/byteranges body has the length it announces", async () => {
  const file = new TextEncoder().encode("0123456789abcdefghij");
  const ranges = [{ start: 0, end: 1 }, { start: 18, end: 19 }];
  const body = multipartBody(ranges, {
    size: file.length,
    type: "text/plain",
    boundary: "BOUNDARY",
    async *read({ start, end }) {
      yield file.subarray(start, end + 1);
    },
  });
  assert.equal(body.contentType, "multipart/byteranges; boundary=BOUNDARY");
  const parts: Uint8Array[] = [];
  for await (const block of body.blocks) parts.push(block);
  const text = new TextDecoder().decode(
    new Uint8Array(parts.flatMap((part) => [...part])),
  );
  assert.equal(
    text,
    "\r\n--BOUNDARY\r\ncontent-type: text/plain\r\ncontent-range: bytes 0-1/20\r\n\r\n01" +
      "\r\n--BOUNDARY\r\ncontent-type: text/plain\r\ncontent-range: bytes 18-19/20\r\n\r\nij" +
      "\r\n--BOUNDARY--\r\n",
  );
  assert.equal(body.length, new TextEncoder().encode(text).length);
  const random = multipartBody(ranges, {
    size: 20,
    type: "text/plain",
    read: () => (async function* () {})(),
  });
  assert.match(random.contentType, /boundary=[0-9a-f]{32}$/);
});
