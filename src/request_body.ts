/**
 * A request's body on its way to Python: small bodies are read whole before
 * a worker is taken, larger or chunked ones stream in batches.
 *
 * @module
 */

/** Bodies up to this size are read whole before Python starts: no suspending. */
const INLINE_BODY_LIMIT = 256 * 1024;

/** The request body, in the form a worker hands it over. */
export type RequestBody =
  | { kind: "none" }
  | { kind: "bytes"; data: Uint8Array }
  | { kind: "stream"; reader: ReadableStreamDefaultReader<Uint8Array> };

/** A body without a length grew past `limitRequestBody` while streaming. */
export class BodyTooLargeError extends Error {
  constructor(limit: number) {
    super(`the request body is larger than limitRequestBody (${limit} bytes)`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * Reads a small body whole and leaves a large or chunked one to stream. A
 * body without a length (chunked) that grows past `limit` bytes (0 = no
 * limit) fails the reads from then on with BodyTooLargeError, and calls
 * `onExceeded`; a declared length is checked by the caller before this.
 */
export async function takeRequestBody(
  request: Request,
  limit = 0,
  onExceeded?: () => void,
): Promise<RequestBody> {
  if (!request.body) return { kind: "none" };
  const length = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isFinite(length) && length <= INLINE_BODY_LIMIT) {
    return { kind: "bytes", data: new Uint8Array(await request.arrayBuffer()) };
  }
  if (limit <= 0 || Number.isFinite(length)) {
    return { kind: "stream", reader: request.body.getReader() };
  }
  let received = 0;
  const counted = request.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received += chunk.byteLength;
        if (received > limit) {
          onExceeded?.();
          controller.error(new BodyTooLargeError(limit));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
  return { kind: "stream", reader: counted.getReader() };
}

/** How much request body one hand-over to Python carries at most. */
const BODY_BATCH_BYTES = 1024 * 1024;

/**
 * Reads request-body chunks until about BODY_BATCH_BYTES are in hand or the
 * body ends: each hand-over to Python costs a round trip, so fewer, larger
 * ones make uploads faster. Returns undefined at the end of the body; a
 * client that went away mid-upload also ends the body. A body over its
 * limit throws BodyTooLargeError, so the app sees a read error.
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
    if (error instanceof BodyTooLargeError) throw error;
    // The client went away: what arrived is all there is.
  }
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  const batch = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    batch.set(part, offset);
    offset += part.length;
  }
  return batch;
}
