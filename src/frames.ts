/**
 * Framing of the pool's worker messages over a byte stream (the pipes of a
 * worker that is a child process). A message is JSON with its byte arrays
 * taken out and sent raw after it, so request and response bodies are never
 * turned into text.
 *
 * Frame layout: u32 size of the rest, u32 size of the JSON, the JSON, then
 * the byte arrays back to back. In the JSON a byte array is replaced by
 * `{"$bytes": [offset, length]}` into that tail. Integers are little-endian.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Frames one message. */
export function encodeFrame(message: unknown): Uint8Array {
  const parts: Uint8Array[] = [];
  let tail = 0;
  const json = JSON.stringify(message, (_key, value) => {
    if (value instanceof Uint8Array) {
      parts.push(value);
      const ref = { $bytes: [tail, value.byteLength] };
      tail += value.byteLength;
      return ref;
    }
    return value;
  });
  const text = encoder.encode(json);
  const frame = new Uint8Array(8 + text.byteLength + tail);
  const view = new DataView(frame.buffer);
  view.setUint32(0, 4 + text.byteLength + tail, true);
  view.setUint32(4, text.byteLength, true);
  frame.set(text, 8);
  let at = 8 + text.byteLength;
  for (const part of parts) {
    frame.set(part, at);
    at += part.byteLength;
  }
  return frame;
}

function decodeFrame(frame: Uint8Array): unknown {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const size = view.getUint32(0, true);
  const text = decoder.decode(frame.subarray(4, 4 + size));
  const tail = frame.subarray(4 + size);
  return JSON.parse(text, (_key, value) => {
    if (
      value !== null && typeof value === "object" && "$bytes" in value &&
      Array.isArray(value.$bytes)
    ) {
      const [offset, length] = value.$bytes as [number, number];
      // A copy: the receiver may transfer or keep it after the frame goes.
      return tail.slice(offset, offset + length);
    }
    return value;
  });
}

/**
 * Reads framed messages from a byte stream until it ends. A torn frame at
 * the end (the writer died mid-frame) is dropped.
 */
export async function* readFrames(
  stream: AsyncIterable<Uint8Array>,
): AsyncGenerator<unknown> {
  // Pieces are kept apart until a whole frame is in: joining on every read
  // would copy a large body over and over.
  const pieces: Uint8Array[] = [];
  let buffered = 0;
  let needed = 4;
  let size = -1;
  const take = (count: number): Uint8Array => {
    const out = pieces[0].byteLength >= count
      ? pieces[0].subarray(0, count)
      : new Uint8Array(count);
    if (out.buffer !== pieces[0].buffer) {
      let at = 0;
      while (at < count) {
        const piece = pieces[0];
        const part = Math.min(piece.byteLength, count - at);
        out.set(piece.subarray(0, part), at);
        at += part;
        if (part === piece.byteLength) pieces.shift();
        else pieces[0] = piece.subarray(part);
      }
    } else if (pieces[0].byteLength === count) {
      pieces.shift();
    } else {
      pieces[0] = pieces[0].subarray(count);
    }
    buffered -= count;
    return out;
  };
  for await (const chunk of stream) {
    pieces.push(chunk);
    buffered += chunk.byteLength;
    while (buffered >= needed) {
      if (size < 0) {
        const head = take(4);
        size = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
        needed = size;
      } else {
        const frame = take(size);
        size = -1;
        needed = 4;
        yield decodeFrame(frame);
      }
    }
  }
}

/**
 * What a connection reads, chunk by chunk, until it ends: `conn.read()`
 * straight, without a ReadableStream's machinery around every chunk.
 */
export async function* chunksOf(
  conn: Deno.Conn,
  size = 65536,
): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(size);
  while (true) {
    const read = await conn.read(buffer);
    if (read === null) return;
    yield buffer.slice(0, read);
  }
}

/** Writes all of `bytes`; a write may take only part of them. */
export async function writeAll(
  conn: Deno.Conn,
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    written += await conn.write(bytes.subarray(written));
  }
}
