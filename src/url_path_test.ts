import assert from "node:assert/strict";
import {
  BadTargetError,
  canonicalPath,
  decodePathLatin1,
  encodePath,
  hasControlCharacter,
  parseTarget,
  removeDotSegments,
  splitTarget,
} from "./url_path.ts";

function status(run: () => unknown): number | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof BadTargetError) return error.status;
    throw error;
  }
  return undefined;
}

Deno.test("url_path: a target splits into raw path and query, the fragment dropped", () => {
  assert.deepEqual(splitTarget("http://h:8/a%20b/c?x=1&y=%2F#frag"), {
    rawPath: "/a%20b/c",
    query: "x=1&y=%2F",
  });
  assert.deepEqual(splitTarget("http://h"), { rawPath: "/", query: "" });
  assert.deepEqual(splitTarget("http://h/p?"), { rawPath: "/p", query: "" });
});

Deno.test("url_path: escapes decode to one latin-1 character per byte", () => {
  assert.equal(decodePathLatin1("/caf%C3%A9"), "/caf\u00c3\u00a9");
  assert.equal(decodePathLatin1("/plain"), "/plain");
  // A malformed escape is the client's mistake, as Apache answers it.
  assert.equal(status(() => decodePathLatin1("/100%")), 400);
  assert.equal(status(() => decodePathLatin1("/a%2Fb")), 404);
  assert.equal(status(() => decodePathLatin1("/a%2fb")), 404);
  assert.equal(status(() => decodePathLatin1("/a%00")), 404);
});

Deno.test("url_path: dot segments resolve as Apache does; climbing above the root is 400", () => {
  assert.equal(removeDotSegments("/a/../b"), "/b");
  assert.equal(removeDotSegments("/a/./b/."), "/a/b/");
  assert.equal(removeDotSegments("/a/b/.."), "/a/");
  assert.equal(removeDotSegments("/.hidden/x"), "/.hidden/x");
  assert.equal(status(() => removeDotSegments("/../etc")), 400);
  assert.equal(status(() => removeDotSegments("/a/../../b")), 400);
  // "%2e%2e" is "..": decoding comes before resolving.
  assert.equal(parseTarget("http://h/a/%2e%2e/b?q").path, "/b");
  assert.equal(status(() => parseTarget("http://h/%2e%2e/")), 400);
});

Deno.test("url_path: encodePath and canonicalPath agree on what stays plain", () => {
  const plain = "/A-z0_9.~!$&'()*+,;=:@/";
  assert.equal(encodePath(plain), plain);
  assert.equal(canonicalPath(plain), plain);
  assert.equal(encodePath("/a b/\u00e9"), "/a%20b/%E9");
  // Equivalent spellings meet in one form.
  assert.equal(canonicalPath("/medi%61/%7e/%2e"), "/media/~/.");
  assert.equal(canonicalPath("/a%2fb%c3%a9"), "/a%2Fb%C3%A9");
  assert.equal(canonicalPath("/café menu"), "/caf%C3%A9%20menu");
  assert.equal(
    canonicalPath(encodePath(decodePathLatin1("/x%20y"))),
    "/x%20y",
  );
  assert.equal(canonicalPath("/bad%zz"), null);
  assert.equal(canonicalPath("/lone\ud800"), null);
});

Deno.test("url_path: control characters are found, tabs and DEL included", () => {
  assert.equal(hasControlCharacter("max-age=60"), false);
  assert.equal(hasControlCharacter("a\tb"), true);
  assert.equal(hasControlCharacter("a\x7f"), true);
  assert.equal(hasControlCharacter("a\r\nX: y"), true);
});

Deno.test("malformed percent-encoding in a path is 400, as Apache", () => {
  for (const raw of ["/app/%zz", "/app/%", "/app/%4"]) {
    assert.throws(
      () => decodePathLatin1(raw),
      (error: unknown) =>
        error instanceof BadTargetError && error.status === 400,
      raw,
    );
  }
  assert.equal(decodePathLatin1("/app/%41%e9"), "/app/A\u00e9");
});
