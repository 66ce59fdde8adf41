/**
 * Conditional requests for files (RFC 9110 §13): the validators a file is
 * sent with, and what If-Match, If-Unmodified-Since, If-None-Match,
 * If-Modified-Since and If-Range make of them.
 *
 * @module
 */

// @ts-types="npm:@types/fresh@0.5.3"
import fresh from "fresh";

/** What a response says about the version of a file it carries. */
export interface Validators {
  /** A strong entity tag, quoted. */
  etag: string;
  /** The modification time as an HTTP date. */
  lastModified: string;
  /** The modification time itself. */
  modified: Date;
}

/**
 * The validators of a file. The ETag is strong and made from size and
 * modification time, as Apache's default `FileETag MTime Size`: If-Range
 * needs a strong validator, which the `etag` package does not make for
 * file stats.
 */
export function fileValidators(
  info: Pick<Deno.FileInfo, "size" | "mtime">,
): Validators {
  const modified = info.mtime ?? new Date(0);
  return {
    etag: `"${info.size.toString(16)}-${modified.getTime().toString(16)}"`,
    lastModified: modified.toUTCString(),
    modified,
  };
}

/** Whether an If-Match or If-None-Match list names the tag ("*" names any). */
function etagMatches(list: string, etag: string, weak: boolean): boolean {
  if (list.trim() === "*") return true;
  const opaque = (tag: string) => weak ? tag.replace(/^W\//, "") : tag;
  return list.split(",").some((candidate) => {
    const tag = candidate.trim();
    return (weak || !tag.startsWith("W/")) && opaque(tag) === opaque(etag);
  });
}

/** Seconds since the epoch: HTTP dates have no finer resolution. */
function seconds(time: number): number {
  return Math.floor(time / 1000);
}

/**
 * The status a request's preconditions give, evaluated in the order of
 * RFC 9110 §13.2.2: 412 when If-Match or If-Unmodified-Since fails, 304
 * when If-None-Match or If-Modified-Since find the client's copy fresh
 * (the `fresh` package's check, which also honours `no-cache`), or null to
 * send the file.
 */
export function preconditionStatus(
  headers: Headers,
  validators: Validators,
): 304 | 412 | null {
  const ifMatch = headers.get("if-match");
  const ifUnmodifiedSince = headers.get("if-unmodified-since");
  if (
    (ifMatch !== null && !etagMatches(ifMatch, validators.etag, false)) ||
    (ifMatch === null && ifUnmodifiedSince !== null &&
      seconds(validators.modified.getTime()) >
        seconds(Date.parse(ifUnmodifiedSince)))
  ) {
    return 412;
  }
  const ifNoneMatch = headers.get("if-none-match") ?? undefined;
  const ifModifiedSince = headers.get("if-modified-since") ?? undefined;
  if (ifNoneMatch === undefined && ifModifiedSince === undefined) return null;
  const isFresh = fresh(
    {
      "if-none-match": ifNoneMatch,
      "if-modified-since": ifModifiedSince,
      "cache-control": headers.get("cache-control") ?? undefined,
    },
    { etag: validators.etag, "last-modified": validators.lastModified },
  );
  return isFresh ? 304 : null;
}

/**
 * If-Range: whether a Range header still applies, which it does only while
 * the validator the client names matches the file exactly.
 */
export function rangeStillValid(
  headers: Headers,
  validators: Validators,
): boolean {
  const ifRange = headers.get("if-range");
  if (ifRange === null) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith("W/")) {
    return value === validators.etag;
  }
  // A date is a strong validator only if the file had not changed for a
  // second when it was sent (RFC 9110 §8.8.2.2); otherwise it cannot
  // vouch for the bytes.
  const modified = validators.modified.getTime();
  return seconds(Date.parse(value)) === seconds(modified) &&
    Date.now() - modified >= 1000;
}
