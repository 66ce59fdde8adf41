/**
 * Range requests (RFC 9110 §14): which bytes a Range header asks for, and
 * the multipart/byteranges body that carries several ranges.
 *
 * @module
 */

// @ts-types="npm:@types/range-parser@1.2.7"
import parseRange from "range-parser";

/** A byte range, both ends included. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * More ranges than this (after overlapping ones are merged) get the whole
 * file with 200, so that a header of many tiny ranges cannot make a
 * response many times larger than the file (Apache's `MaxRanges`).
 */
export const MAX_RANGES = 64;

/**
 * The ranges a Range header asks for: null to send the whole file (another
 * unit, malformed, or too many ranges), "unsatisfiable" for 416, else one
 * or more ranges, overlapping ones merged. Parsing is range-parser's.
 */
export function requestedRanges(
  header: string,
  size: number,
): ByteRange[] | "unsatisfiable" | null {
  // The unit is case-insensitive (RFC 9110 §14.1) but range-parser reports
  // it as written, so it is matched here and handed over as "bytes=".
  const unit = /^\s*bytes\s*=/i.exec(header);
  if (!unit) return null;
  const spec = header.slice(unit[0].length).replace(
    // A suffix longer than the file means the whole file (RFC 9110
    // §14.1.2), which range-parser 1.3.0 answers as unsatisfiable.
    /(^|,)(\s*)-\s*(\d+)/g,
    (match, separator: string, space: string, length: string) =>
      size > 0 && Number(length) > size ? `${separator}${space}0-` : match,
  );
  const ranges = parseRange(size, `bytes=${spec}`, { combine: true });
  if (ranges === -2) return null;
  if (ranges === -1) return "unsatisfiable";
  if (ranges.length > MAX_RANGES) return null;
  return ranges.map(({ start, end }) => ({ start, end }));
}

/** The Content-Range value of a range of a file of `size` bytes. */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

/** What a multipart/byteranges body is made of. */
export interface MultipartOptions {
  /** The size of the whole file. */
  size: number;
  /** The file's own Content-Type, repeated in each part. */
  type: string;
  /** The bytes of one range, in blocks. */
  read(range: ByteRange): AsyncIterable<Uint8Array>;
  /** The boundary; default a random one, which no file can guess. */
  boundary?: string;
}

/** A multipart/byteranges body, its length known before it is read. */
export interface MultipartBody {
  /** "multipart/byteranges; boundary=...". */
  contentType: string;
  /** The body's length in bytes. */
  length: number;
  /** The body, one part head or block at a time. */
  blocks: AsyncGenerator<Uint8Array>;
}

const encoder = new TextEncoder();

/** Several ranges as one multipart/byteranges body (RFC 9110 §14.6). */
export function multipartBody(
  ranges: ByteRange[],
  options: MultipartOptions,
): MultipartBody {
  const boundary = options.boundary ??
    crypto.randomUUID().replaceAll("-", "");
  const partHeads = ranges.map((range) =>
    encoder.encode(
      `\r\n--${boundary}\r\ncontent-type: ${options.type}\r\ncontent-range: ${
        contentRange(range, options.size)
      }\r\n\r\n`,
    )
  );
  const closing = encoder.encode(`\r\n--${boundary}--\r\n`);
  const length = ranges.reduce(
    (total, { start, end }, i) => total + partHeads[i].length + end - start + 1,
    closing.length,
  );
  async function* blocks(): AsyncGenerator<Uint8Array> {
    for (const [i, range] of ranges.entries()) {
      yield partHeads[i];
      yield* options.read(range);
    }
    yield closing;
  }
  return {
    contentType: `multipart/byteranges; boundary=${boundary}`,
    length,
    blocks: blocks(),
  };
}
