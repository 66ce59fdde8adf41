/**
 * URL paths: splitting a request target, decoding its path the way the
 * gateway routes it (PEP 3333's latin-1, dot segments resolved as Apache
 * does), and the canonical spelling that mounts and aliases compare.
 *
 * @module
 */

import { StatusError } from "./responses.ts";

/** A request's path, split and decoded the way the gateway routes it. */
export interface RequestTarget {
  /** The path as sent, still percent-encoded. */
  rawPath: string;
  /** The query string as sent, without "?". */
  query: string;
  /**
   * The path with every percent-escape decoded to a byte and each byte
   * mapped to one character (latin-1), after dot segments are resolved.
   */
  path: string;
}

/** The request target could not be mapped to a path; carries an HTTP status. */
export class BadTargetError extends StatusError {}

/**
 * The characters a URL path holds unescaped: RFC 3986's pchar and "/".
 * Written once, so that what the gateway encodes and what an alias
 * compares cannot drift apart.
 */
const PATH_CHARACTERS = "A-Za-z0-9\\-._~!$&'()*+,;=:@/";
const PLAIN_PATH = new RegExp(`^[${PATH_CHARACTERS}]*$`);
const PLAIN_CHARACTER = new RegExp(`^[${PATH_CHARACTERS}]$`);
const NEEDS_ESCAPE = new RegExp(`[^${PATH_CHARACTERS}%]`, "gu");
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const HEX = /^[0-9A-Fa-f]{2}$/;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

/**
 * Decodes percent-escapes byte by byte and maps each byte to a latin-1
 * character, as PEP 3333 wants for PATH_INFO. Encoded slashes and NUL bytes
 * are refused with 404, as Apache does with AllowEncodedSlashes Off.
 */
export function decodePathLatin1(rawPath: string): string {
  if (!rawPath.includes("%")) return rawPath;
  let out = "";
  for (let i = 0; i < rawPath.length; i++) {
    const ch = rawPath[i];
    if (ch === "%" && !HEX.test(rawPath.slice(i + 1, i + 3))) {
      // As Apache: "%zz" or a lone "%" is not a path, whatever it serves.
      throw new BadTargetError(
        400,
        "malformed percent-encoding in the request path",
      );
    }
    if (ch === "%") {
      const byte = parseInt(rawPath.slice(i + 1, i + 3), 16);
      if (byte === 0x2f || byte === 0x00) {
        throw new BadTargetError(
          404,
          "encoded slash or NUL byte in the request path",
        );
      }
      out += String.fromCharCode(byte);
      i += 2;
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * Resolves "." and ".." segments like Apache does before it maps a URL; a
 * path that climbs above the root is refused with 400.
 */
export function removeDotSegments(path: string): string {
  if (!path.includes("/.")) return path;
  const segments = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i];
    const last = i === segments.length - 1;
    if (segment === ".") {
      if (last) out.push("");
    } else if (segment === "..") {
      if (out.length === 0) {
        throw new BadTargetError(400, "the request path climbs above the root");
      }
      out.pop();
      if (last) out.push("");
    } else {
      out.push(segment);
    }
  }
  return "/" + out.join("/");
}

/** Percent-encodes a latin-1 path back into a canonical URL path. */
export function encodePath(path: string): string {
  if (PLAIN_PATH.test(path)) return path;
  let out = "";
  for (const ch of path) {
    out += PLAIN_CHARACTER.test(ch)
      ? ch
      : "%" + ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/**
 * The canonical form of a URL path, so that equivalent spellings compare
 * equal (RFC 3986 §6.2.2): escapes of unreserved characters decoded
 * ("%61" is "a", "%2e" is "."), other escapes in upper case, raw characters
 * a URL cannot hold (spaces, non-ASCII) encoded as UTF-8. Reserved escapes
 * such as "%2F" stay escaped: they are data, not separators. Null when the
 * path has a malformed escape or a lone surrogate.
 */
export function canonicalPath(path: string): string | null {
  if (PLAIN_PATH.test(path)) return path;
  if (BAD_ESCAPE.test(path)) return null;
  let encoded: string;
  try {
    encoded = path.replace(NEEDS_ESCAPE, (ch) => encodeURIComponent(ch));
  } catch {
    return null;
  }
  return encoded.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

/** Splits the target of a request into its raw path and query, undecoded. */
export function splitTarget(url: string): { rawPath: string; query: string } {
  // request.url keeps the path as the client sent it; new URL() would fold
  // "%2e%2e" into "..", so take the path apart by hand.
  const afterScheme = url.indexOf("://");
  const pathStart = url.indexOf("/", afterScheme + 3);
  let target = pathStart < 0 ? "/" : url.slice(pathStart);
  const hash = target.indexOf("#");
  if (hash >= 0) target = target.slice(0, hash);
  const mark = target.indexOf("?");
  return mark < 0
    ? { rawPath: target, query: "" }
    : { rawPath: target.slice(0, mark), query: target.slice(mark + 1) };
}

/** Splits and decodes the target of a request. */
export function parseTarget(url: string): RequestTarget {
  const { rawPath, query } = splitTarget(url);
  return { rawPath, query, path: removeDotSegments(decodePathLatin1(rawPath)) };
}

/** Whether a string holds a C0 control character or DEL. */
export function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
