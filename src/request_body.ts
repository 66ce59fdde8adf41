/**
 * A request's body on its way to Python. By default the server reads it
 * whole before a worker is taken (request buffering: in memory up to a
 * size, in a temporary file beyond it, spill_file.ts), so a slow or
 * stalled upload costs a connection and never a worker; `bodyTimeout`
 * ends one that does not arrive in time (body_limits.ts). Without
 * buffering, small bodies are read whole and larger or chunked ones
 * stream (streamed_body.ts). Either way a worker hands a stream over in
 * batches.
 *
 * @module
 */

import { BodyDeadline, BodyError, type BodySettings } from "./body_limits.ts";
import { openSpillFile, type SpillFile } from "./spill_file.ts";
import { streamBody } from "./streamed_body.ts";

/** Without buffering, bodies up to this size are read whole before Python starts. */
const INLINE_BODY_LIMIT = 256 * 1024;

/** The request body, in the form a worker hands it over. */
export type RequestBody =
  | { kind: "none" }
  | { kind: "bytes"; data: Uint8Array }
  | { kind: "stream"; reader: ReadableStreamDefaultReader<Uint8Array> };

/** A body read for a request, and what to free once the request is over. */
export interface TakenBody {
  body: RequestBody;
  /** The body's length when it was read whole (chunked bodies included). */
  length?: number;
  /** Closes the body's temporary file, if any; safe to call twice. */
  release(): void;
}

const NOTHING: TakenBody = { body: { kind: "none" }, release() {} };

/**
 * Takes a request's body as `settings` say: buffered whole (memory, then a
 * temporary file), or left to stream into Python. Rejects with a BodyError
 * (408, 413, or 400 for a body the client broke off or framed wrongly)
 * before any worker is involved. `onStreamFailure` learns of a streamed
 * body that grew too large or timed out while the app was reading it.
 */
export function takeRequestBody(
  request: Request,
  settings: BodySettings,
  onStreamFailure?: (error: BodyError) => void,
): Promise<TakenBody> {
  if (!request.body) return Promise.resolve(NOTHING);
  if (settings.buffering) return bufferBody(request.body, settings);
  const length = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isFinite(length) && length <= INLINE_BODY_LIMIT) {
    return bufferBody(request.body, { ...settings, bufferSize: Infinity });
  }
  const reader = streamBody(request.body, settings, onStreamFailure);
  return Promise.resolve({
    body: { kind: "stream", reader },
    release: () => void reader.cancel().catch(() => {}),
  });
}

/** Reads the whole body: memory up to bufferSize, then a temporary file. */
async function bufferBody(
  stream: ReadableStream<Uint8Array>,
  settings: BodySettings,
): Promise<TakenBody> {
  const reader = stream.getReader();
  const deadline = new BodyDeadline(
    settings,
    () => void reader.cancel().catch(() => {}),
  );
  const parts: Uint8Array[] = [];
  let spill: SpillFile | undefined;
  let spillRefused = false;
  try {
    while (true) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        if (deadline.expired) break;
        throw new BodyError(
          400,
          `the request body could not be read: ${
            (error as Error)?.message ?? error
          }`,
        );
      }
      if (deadline.expired || result.done) break;
      const chunk = result.value;
      const tooLarge = deadline.count(chunk.byteLength);
      if (tooLarge) throw tooLarge;
      if (spill) {
        await spill.write(chunk);
        continue;
      }
      parts.push(chunk);
      if (deadline.received > settings.bufferSize && !spillRefused) {
        spill = await openSpillFile(settings.folder);
        spillRefused = spill === undefined;
        for (const part of spill ? parts.splice(0) : []) {
          await spill!.write(part);
        }
      }
    }
    if (deadline.expired) throw deadline.timedOut();
  } catch (error) {
    reader.cancel().catch(() => {});
    spill?.close();
    throw error;
  } finally {
    deadline.stop();
  }
  const length = deadline.received;
  if (spill) {
    const file = spill;
    return {
      body: { kind: "stream", reader: await file.reread() },
      length,
      release: () => file.close(),
    };
  }
  return {
    body: { kind: "bytes", data: concatenate(parts, length) },
    length,
    release() {},
  };
}

/** `parts` joined into one array of `length` bytes. */
export function concatenate(
  parts: Uint8Array[],
  length: number,
): Uint8Array {
  if (parts.length === 1) return parts[0];
  const whole = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    whole.set(part, offset);
    offset += part.length;
  }
  return whole;
}

/** How much request body one hand-over to Python carries at most. */
const BODY_BATCH_BYTES = 1024 * 1024;

/**
 * Reads request-body chunks until about BODY_BATCH_BYTES are in hand or the
 * body ends: each hand-over to Python costs a round trip, so fewer, larger
 * ones make uploads faster. Returns undefined at the end of the body; a
 * client that went away mid-upload also ends the body. A body over its
 * limit or past its timeout throws its BodyError, so the app sees a read
 * error.
 */
export async function readBodyBatch(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<Uint8Array | undefined> {
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_BATCH_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
    }
  } catch (error) {
    if (error instanceof BodyError) throw error;
    // The client went away: what arrived is all there is.
  }
  if (parts.length === 0) return undefined;
  return concatenate(parts, size);
}
