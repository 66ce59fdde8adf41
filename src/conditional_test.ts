import assert from "node:assert/strict";
import {
  fileValidators,
  preconditionStatus,
  rangeStillValid,
} from "./conditional.ts";

const OLD = new Date("2020-01-02T03:04:05Z");
const validators = fileValidators({ size: 20, mtime: OLD });

function headers(values: Record<string, string>): Headers {
  return new Headers(values);
}

Deno.test("conditional: a strong ETag from size and time, Last-Modified as an HTTP date", () => {
  assert.equal(validators.etag, `"14-${OLD.getTime().toString(16)}"`);
  assert.equal(validators.lastModified, "Thu, 02 Jan 2020 03:04:05 GMT");
  const changed = fileValidators({ size: 21, mtime: OLD });
  assert.notEqual(changed.etag, validators.etag);
  assert.equal(fileValidators({ size: 0, mtime: null }).modified.getTime(), 0);
});

Deno.test("conditional: If-None-Match and If-Modified-Since give 304 while the copy is fresh", () => {
  const { etag, lastModified } = validators;
  assert.equal(preconditionStatus(headers({}), validators), null);
  assert.equal(
    preconditionStatus(headers({ "if-none-match": etag }), validators),
    304,
  );
  assert.equal(
    preconditionStatus(
      headers({ "if-none-match": `"x", W/${etag}` }),
      validators,
    ),
    304,
  );
  assert.equal(
    preconditionStatus(headers({ "if-none-match": '"other"' }), validators),
    null,
  );
  assert.equal(
    preconditionStatus(
      headers({ "if-modified-since": lastModified }),
      validators,
    ),
    304,
  );
  assert.equal(
    preconditionStatus(
      headers({ "if-modified-since": "Wed, 01 Jan 2020 00:00:00 GMT" }),
      validators,
    ),
    null,
  );
  // If-None-Match wins over If-Modified-Since; no-cache asks for the body.
  assert.equal(
    preconditionStatus(
      headers({
        "if-none-match": '"other"',
        "if-modified-since": lastModified,
      }),
      validators,
    ),
    null,
  );
  assert.equal(
    preconditionStatus(
      headers({ "if-none-match": etag, "cache-control": "no-cache" }),
      validators,
    ),
    null,
  );
});

Deno.test("conditional: If-Match and If-Unmodified-Since give 412, and come first", () => {
  const { etag } = validators;
  assert.equal(
    preconditionStatus(headers({ "if-match": etag }), validators),
    null,
  );
  assert.equal(
    preconditionStatus(headers({ "if-match": "*" }), validators),
    null,
  );
  assert.equal(
    preconditionStatus(headers({ "if-match": '"other"' }), validators),
    412,
  );
  // If-Match compares strongly: a weak tag never matches.
  assert.equal(
    preconditionStatus(headers({ "if-match": `W/${etag}` }), validators),
    412,
  );
  assert.equal(
    preconditionStatus(
      headers({ "if-unmodified-since": "Wed, 01 Jan 2020 00:00:00 GMT" }),
      validators,
    ),
    412,
  );
  assert.equal(
    preconditionStatus(
      headers({ "if-unmodified-since": validators.lastModified }),
      validators,
    ),
    null,
  );
  // If-Match present: If-Unmodified-Since is not looked at.
  assert.equal(
    preconditionStatus(
      headers({
        "if-match": etag,
        "if-unmodified-since": "Wed, 01 Jan 2020 00:00:00 GMT",
      }),
      validators,
    ),
    null,
  );
  assert.equal(
    preconditionStatus(
      headers({ "if-match": '"other"', "if-none-match": etag }),
      validators,
    ),
    412,
  );
});

Deno.test("conditional: If-Range keeps a range only while its validator matches exactly", () => {
  assert.equal(rangeStillValid(headers({}), validators), true);
  assert.equal(
    rangeStillValid(headers({ "if-range": validators.etag }), validators),
    true,
  );
  assert.equal(
    rangeStillValid(
      headers({ "if-range": `W/${validators.etag}` }),
      validators,
    ),
    false,
  );
  assert.equal(
    rangeStillValid(headers({ "if-range": '"other"' }), validators),
    false,
  );
  assert.equal(
    rangeStillValid(
      headers({ "if-range": validators.lastModified }),
      validators,
    ),
    true,
  );
  assert.equal(
    rangeStillValid(
      headers({ "if-range": "Wed, 01 Jan 2020 00:00:00 GMT" }),
      validators,
    ),
    false,
  );
  // Changed within the last second: a date cannot vouch for the bytes.
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const recent = fileValidators({ size: 20, mtime: now });
  assert.equal(
    rangeStillValid(headers({ "if-range": recent.lastModified }), recent),
    false,
  );
});
