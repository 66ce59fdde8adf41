import assert from "node:assert/strict";
import {
  fileValidators,
  preconditionStatus,
  rangeStillValid,
} from "./conditional.ts";

const OLD = new Date("2020-01-02T03:04:05Z");
const EARLIER = "Wed, 01 Jan 2020 00:00:00 GMT";
const validators = fileValidators({ size: 20, mtime: OLD });
const { etag, lastModified } = validators;

/** Each request's headers and the status its preconditions must give. */
function expectStatuses(
  cases: [Record<string, string>, 304 | 412 | null][],
): void {
  for (const [values, status] of cases) {
    assert.equal(
      preconditionStatus(new Headers(values), validators),
      status,
      JSON.stringify(values),
    );
  }
}

Deno.test("conditional: a strong ETag from size and time, Last-Modified as an HTTP date", () => {
  assert.equal(etag, `"14-${OLD.getTime().toString(16)}"`);
  assert.equal(lastModified, "Thu, 02 Jan 2020 03:04:05 GMT");
  assert.notEqual(fileValidators({ size: 21, mtime: OLD }).etag, etag);
  assert.equal(fileValidators({ size: 0, mtime: null }).modified.getTime(), 0);
});

Deno.test("conditional: If-None-Match and If-Modified-Since give 304 while the copy is fresh", () => {
  expectStatuses([
    [{}, null],
    [{ "if-none-match": etag }, 304],
    [{ "if-none-match": `"x", W/${etag}` }, 304],
    [{ "if-none-match": '"other"' }, null],
    [{ "if-modified-since": lastModified }, 304],
    [{ "if-modified-since": EARLIER }, null],
    // If-None-Match wins over If-Modified-Since; no-cache asks for the body.
    [{ "if-none-match": '"other"', "if-modified-since": lastModified }, null],
    [{ "if-none-match": etag, "cache-control": "no-cache" }, null],
  ]);
});

Deno.test("conditional: If-Match and If-Unmodified-Since give 412, and come first", () => {
  expectStatuses([
    [{ "if-match": etag }, null],
    [{ "if-match": "*" }, null],
    [{ "if-match": '"other"' }, 412],
    // If-Match compares strongly: a weak tag never matches.
    [{ "if-match": `W/${etag}` }, 412],
    [{ "if-unmodified-since": EARLIER }, 412],
    [{ "if-unmodified-since": lastModified }, null],
    // With If-Match, If-Unmodified-Since is not looked at.
    [{ "if-match": etag, "if-unmodified-since": EARLIER }, null],
    [{ "if-match": '"other"', "if-none-match": etag }, 412],
  ]);
});

Deno.test("conditional: If-Range keeps a range only while its validator matches exactly", () => {
  const cases: [string | undefined, boolean][] = [
    [undefined, true],
    [etag, true],
    [`W/${etag}`, false],
    ['"other"', false],
    [lastModified, true],
    [EARLIER, false],
  ];
  for (const [ifRange, valid] of cases) {
    const headers = new Headers(ifRange ? { "if-range": ifRange } : {});
    assert.equal(rangeStillValid(headers, validators), valid, ifRange);
  }
  // Changed within the last second: a date cannot vouch for the bytes.
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const recent = fileValidators({ size: 20, mtime: now });
  assert.equal(
    rangeStillValid(new Headers({ "if-range": recent.lastModified }), recent),
    false,
  );
});
