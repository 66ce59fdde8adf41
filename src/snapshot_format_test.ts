import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import {
  HEADER_BYTES,
  heapOffsetOf,
  packHeader,
  PYODIDE_HEADER_BYTES,
  SnapshotError,
  unpackHeader,
} from "./snapshot_format.ts";

const refused = (run: () => unknown, words: string) =>
  assert.throws(run, (error: Error) => {
    assert.ok(error instanceof SnapshotError, String(error));
    assert.match(error.message, new RegExp(words));
    return true;
  });

Deno.test("a packed header reads back the body's checksum and length", () => {
  const body = new TextEncoder().encode("some heap bytes");
  const header = packHeader(body);
  assert.equal(header.length, HEADER_BYTES);
  assert.deepEqual(unpackHeader("a.snapshot", header, body.length), {
    checksum: crc32(body),
    length: body.length,
  });
  // Read from the middle of a larger buffer, as a file reader may hand it.
  const padded = new Uint8Array(HEADER_BYTES + 3);
  padded.set(header, 3);
  assert.equal(
    unpackHeader("a.snapshot", padded.subarray(3), body.length).length,
    body.length,
  );
});

Deno.test("a foreign, short or truncated header is refused", () => {
  const header = packHeader(new Uint8Array(100));
  refused(
    () => unpackHeader("a.snapshot", header.subarray(0, 5), 100),
    "a.snapshot is not a snapshot file",
  );
  const foreign = header.slice();
  foreign[0] ^= 1;
  refused(() => unpackHeader("a.snapshot", foreign, 100), "not a snapshot");
  refused(
    () => unpackHeader("a.snapshot", header, 60),
    "a.snapshot is truncated: 60 of 100 bytes",
  );
});

Deno.test("the heap starts where Pyodide's header says, if that can be so", () => {
  const start = (offset: number) => {
    const bytes = new Uint8Array(PYODIDE_HEADER_BYTES);
    new DataView(bytes.buffer).setUint32(4, offset, true);
    return bytes;
  };
  assert.equal(heapOffsetOf("a.snapshot", start(64), 1000), 64);
  for (const offset of [0, 8, 65, 2000]) {
    refused(
      () => heapOffsetOf("a.snapshot", start(offset), 1000),
      "a.snapshot is corrupt: its header is not Pyodide's",
    );
  }
});
