/**
 * The response that carries a file: its type, length and validators, the
 * status its preconditions and ranges give, and its bytes, read at once
 * when small and streamed when large.
 *
 * Opening a file and reading a small one are synchronous calls: on a local
 * disk they are answered from the kernel's caches in microseconds, while
 * each asynchronous call costs a trip through Deno's thread pool. Large
 * bodies are streamed asynchronously, so a slow client never blocks the
 * server. On a network file system where a call can take milliseconds,
 * those milliseconds block the event loop.
 *
 * @module
 */

// @ts-types="npm:@types/mime-types@3.0.1"
import { contentType } from "mime-types";
import {
  type ByteRange,
  contentRange,
  multipartBody,
  requestedRanges,
} from "./byte_ranges.ts";
import {
  fileValidators,
  preconditionStatus,
  rangeStillValid,
} from "./conditional.ts";
import { type Refusal, refusalFor } from "./containment.ts";
import { errorResponse } from "./responses.ts";

/**
 * Bytes read from disk at a time while streaming a range: large enough that
 * a 1 MiB range costs few trips through JavaScript, small enough that a slow
 * client holds little memory.
 */
const READ_BLOCK_SIZE = 256 * 1024;
/**
 * Files up to this size are read with one read into a buffer of their exact
 * size and sent as bytes: the same memory as one block of a stream, without
 * the cost of setting a stream up. Larger files are streamed.
 */
const SMALL_FILE_SIZE = 64 * 1024;

/** An open regular file and the stat of the open file itself. */
export interface OpenFile {
  file: Deno.FsFile;
  info: Deno.FileInfo;
}

/**
 * Opens a regular file, or gives the refusal. The path is stat-ed before it
 * is opened because opening a FIFO waits for a writer, which would stall
 * the server; the open file is stat-ed again so that the size and
 * validators sent are those of the bytes read.
 */
export function openRegularFile(
  path: string,
  statOfPath?: Deno.FileInfo,
): OpenFile | Refusal {
  let file: Deno.FsFile;
  try {
    if (!(statOfPath ?? Deno.statSync(path)).isFile) return 404;
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    return refusalFor(error);
  }
  try {
    const info = file.statSync();
    if (info.isFile) return { file, info };
  } catch {
    // fall through to 404
  }
  file.close();
  return 404;
}

/** How a file is sent. */
export interface FileResponseOptions {
  /** The name its Content-Type comes from (the name asked for, not a symlink's target). */
  name: string;
  /** The Cache-Control header; "" sends none. */
  cacheControl: string;
}

/**
 * Answers a GET or HEAD for an open file, which it closes once sent: 200
 * or 206 with the bytes, 304, 412 or 416.
 */
export function fileResponse(
  request: Request,
  opened: OpenFile,
  options: FileResponseOptions,
): Response {
  const { file, info } = opened;
  const size = info.size;
  const validators = fileValidators(info);
  const headers = new Headers({
    "accept-ranges": "bytes",
    "last-modified": validators.lastModified,
    etag: validators.etag,
  });
  if (options.cacheControl) headers.set("cache-control", options.cacheControl);
  const precondition = preconditionStatus(request.headers, validators);
  if (precondition !== null) {
    file.close();
    return precondition === 412
      ? errorResponse(412, { headers, method: request.method })
      : new Response(null, { status: 304, headers });
  }
  const type = contentType(options.name) || "application/octet-stream";
  let ranges: ByteRange[] | "unsatisfiable" | null = null;
  const rangeHeader = request.headers.get("range");
  // Ranges are defined for GET only (RFC 9110 §14.2); HEAD gets the 200.
  if (
    rangeHeader !== null && request.method === "GET" &&
    rangeStillValid(request.headers, validators)
  ) {
    ranges = requestedRanges(rangeHeader, size);
  }
  if (ranges === "unsatisfiable") {
    file.close();
    headers.set("content-range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  if (ranges !== null && ranges.length > 1) {
    const body = multipartBody(ranges, {
      size,
      type,
      read: ({ start, end }) => fileBlocks(file, start, end - start + 1),
    });
    headers.set("content-type", body.contentType);
    headers.set("content-length", String(body.length));
    return new Response(
      streamOf(body.blocks, () => file.close()),
      { status: 206, headers },
    );
  }
  const range = ranges?.[0] ?? { start: 0, end: size - 1 };
  const length = range.end - range.start + 1;
  const status = ranges ? 206 : 200;
  headers.set("content-type", type);
  headers.set("content-length", String(length));
  if (ranges) headers.set("content-range", contentRange(range, size));
  if (request.method === "HEAD" || length === 0) {
    file.close();
    return new Response(null, { status, headers });
  }
  if (length <= SMALL_FILE_SIZE) {
    const bytes = readExactly(file, range.start, length);
    headers.set("content-length", String(bytes.length));
    return new Response(bytes, { status, headers });
  }
  // The whole file: Deno's own file stream, which Deno.serve can send
  // without copying each block through JavaScript.
  if (!ranges) return new Response(file.readable, { status, headers });
  return new Response(
    streamOf(fileBlocks(file, range.start, length), () => file.close()),
    { status, headers },
  );
}

/** Reads `length` bytes from `start`, or fewer if the file shrank; closes the file. */
function readExactly(
  file: Deno.FsFile,
  start: number,
  length: number,
): Uint8Array<ArrayBuffer> {
  try {
    if (start > 0) file.seekSync(start, Deno.SeekMode.Start);
    const bytes = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const read = file.readSync(bytes.subarray(filled));
      if (read === null || read === 0) break;
      filled += read;
    }
    return filled === length ? bytes : bytes.slice(0, filled);
  } finally {
    file.close();
  }
}

/** Yields `length` bytes from `start` in blocks; the file stays open for more. */
async function* fileBlocks(
  file: Deno.FsFile,
  start: number,
  length: number,
): AsyncGenerator<Uint8Array> {
  await file.seek(start, Deno.SeekMode.Start);
  let remaining = length;
  while (remaining > 0) {
    const block = new Uint8Array(Math.min(READ_BLOCK_SIZE, remaining));
    const read = await file.read(block);
    if (read === null || read === 0) {
      throw new Error(
        `the file shrank while it was being sent (${remaining} bytes short)`,
      );
    }
    remaining -= read;
    yield block.subarray(0, read);
  }
}

/**
 * A byte stream pulled from a generator one block at a time, so a slow
 * client holds at most one block in memory. `onEnd` runs however the
 * stream ends: finished, failed, or cancelled by the client.
 */
function streamOf(
  blocks: AsyncGenerator<Uint8Array>,
  onEnd: () => void,
): ReadableStream<Uint8Array> {
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      onEnd();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await blocks.next();
        if (next.done) {
          end();
          controller.close();
        } else {
          controller.enqueue(next.value);
        }
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    async cancel() {
      end();
      await blocks.return(undefined);
    },
  }, { highWaterMark: 0 });
}
