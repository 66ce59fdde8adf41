import assert from "node:assert/strict";
import {
  cancelPipelined,
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

Deno.test("fate words: whoever writes first decides, over what an earlier request left", () => {
  const flags = createFlags();
  assert.equal(cancelPipelined(flags, 7), true, "taken back before it ran");
  assert.equal(cancelPipelined(flags, 7), true, "asking twice changes nothing");
  assert.equal(startPipelined(flags, 7), false, "the worker skips it");
  assert.equal(startPipelined(flags, 8), true, "the worker started it");
  assert.equal(cancelPipelined(flags, 8), false, "too late to take back");
  assert.equal(startPipelined(flags, 8), true, "asking twice changes nothing");
  // 15 shares 7's word, which still says 7 was taken back.
  assert.equal(
    startPipelined(flags, 15),
    true,
    "a stale fate is not this one's",
  );
  assert.equal(cancelPipelined(flags, 15), false);
  // 16 shares 8's word, which says 8 started.
  assert.equal(
    cancelPipelined(flags, 16),
    true,
    "a stale start is not this one's",
  );
  assert.equal(startPipelined(flags, 16), false);
});

Deno.test("fate words: PIPELINE_DEPTH consecutive requests never share a word", () => {
  const flags = createFlags();
  for (let id = 100; id < 100 + PIPELINE_DEPTH; id += 2) {
    assert.equal(startPipelined(flags, id), true, `request ${id}`);
  }
  for (let id = 100; id < 100 + PIPELINE_DEPTH; id++) {
    assert.equal(cancelPipelined(flags, id), id % 2 === 1, `request ${id}`);
  }
});
