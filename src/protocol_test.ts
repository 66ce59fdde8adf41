import assert from "node:assert/strict";
import {
  cancelPipelined,
  claimPipelined,
  createFlags,
  PIPELINE_DEPTH,
  startPipelined,
  unpackHead,
} from "./protocol.ts";

/** What python/wsgi_bridge.py's _pack_head() makes. */
function pack(status: string, headers: [string, string][], done: boolean) {
  const head = [(done ? "1" : "0") + status, ...headers.flat()].join("\0");
  return `${head.length}:${head}`;
}

Deno.test("unpackHead: status, headers in order, the done flag", () => {
  const head = unpackHead(
    pack("404 Not Here", [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]], false),
    true,
  );
  assert.equal(head.status, 404);
  assert.equal(head.statusText, "Not Here");
  assert.deepEqual(head.headers, [["Set-Cookie", "a=1"], [
    "Set-Cookie",
    "b=2",
  ]]);
  assert.equal(head.done, false);
  assert.equal(head.chunk, undefined);
});

Deno.test("unpackHead: a small first chunk follows inline as latin-1", () => {
  const head = unpackHead(pack("200 OK", [], true) + "h\xe9\0!", true);
  assert.deepEqual([...head.chunk!], [0x68, 0xe9, 0, 0x21]);
  assert.equal(head.done, true);
  const large = new Uint8Array([1, 2, 3]);
  assert.equal(
    unpackHead(pack("200 OK", [], false), false, large).chunk,
    large,
  );
});

Deno.test("fate words: whoever swaps first decides", () => {
  const flags = createFlags();
  claimPipelined(flags, 7);
  assert.equal(cancelPipelined(flags, 7), true, "taken back before it ran");
  assert.equal(startPipelined(flags, 7), false, "the worker skips it");
  claimPipelined(flags, 8);
  assert.equal(startPipelined(flags, 8), true, "the worker started it");
  assert.equal(cancelPipelined(flags, 8), false, "too late to take back");
});

Deno.test("fate words: PIPELINE_DEPTH consecutive requests never share a word", () => {
  const flags = createFlags();
  for (let id = 100; id < 100 + PIPELINE_DEPTH; id++) claimPipelined(flags, id);
  for (let id = 100; id < 100 + PIPELINE_DEPTH; id++) {
    assert.equal(cancelPipelined(flags, id), true, `request ${id}`);
  }
});
