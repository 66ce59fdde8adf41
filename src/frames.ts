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

/**
 * `value` with every Uint8Array in it replaced by a reference into the
 * tail, copying only the objects and arrays on the way to one: a walk of
 * our own is cheaper than JSON.stringify's replacer, called for every key.
 */
function lift(value: unknown, parts: Uint8Array[], tail: { size: number }) {
  if (value instanceof Uint8Array) {
    parts.push(value);
    const ref = { $bytes: [tail.size, value.byteLength] };
    tail.size += value.byteLength;
    return ref;
  }
  if (
    value === null || typeof value !== "object" || ArrayBuffer.isView(value)
  ) {
    return value;
  }
  let copy: Record<string, unknown> | unknown[] | undefined;
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    const item = source[key];
    if (item === null || typeof item !== "object") continue;
    const lifted = lift(item, parts, tail);
    if (lifted === item) continue;
    copy ??= Array.isArray(value) ? [...value] : { ...source };
    (copy as Record<string, unknown>)[key] = lifted;
  }
  return copy ?? value;
}

/**
 * The inverse of `lift`, in place, on what JSON.parse made. `own`: the
 * frame's buffer is the message's alone, so its byte arrays may be views
 * into it rather than copies.
 */
function land(value: unknown, tail: Uint8Array, own: boolean): unknown {
  if (value === null || typeof value !== "object") return value;
  const object = value as Record<string, unknown>;
  const bytes = object.$bytes;
  if (Array.isArray(bytes) && !Array.isArray(value)) {
    const [offset, length] = bytes as [number, number];
    // Otherwise a copy: the receiver may transfer or keep it after the
    // frame's buffer is reused.
    return own
      ? tail.subarray(offset, offset + length)
      : tail.slice(offset, offset + length);
  }
  for (const key of Object.keys(object)) {
    const item = object[key];
    if (item !== null && typeof item === "object") {
      object[key] = land(item, tail, own);
    }
  }
  return value;
}

/** Frames one message. */
export function encodeFrame(message: unknown): Uint8Array {
  const pieces = framePieces(message, Infinity);
  return pieces[0];
}

/**
 * Frames one message as pieces to write one after the other: one, unless
 * its byte arrays come to more than `joinLimit` bytes, which then follow
 * the head as they are, not copied into it.
 */
export function framePieces(
  message: unknown,
  joinLimit = 65536,
): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const tail = { size: 0 };
  const text = encoder.encode(JSON.stringify(lift(message, parts, tail)));
  const joined = tail.size <= joinLimit;
  const frame = new Uint8Array(8 + text.byteLength + (joined ? tail.size : 0));
  const view = new DataView(frame.buffer);
  view.setUint32(0, 4 + text.byteLength + tail.size, true);
  view.setUint32(4, text.byteLength, true);
  frame.set(text, 8);
  if (!joined) return [frame, ...parts];
  let at = 8 + text.byteLength;
  for (const part of parts) {
    frame.set(part, at);
    at += part.byteLength;
  }
  return [frame];
}

function decodeFrame(frame: Uint8Array, own = false): unknown {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const size = view.getUint32(0, true);
  const text = decoder.decode(frame.subarray(4, 4 + size));
  const message = JSON.parse(text);
  // Most frames carry no bytes: nothing to walk. (Not the tail's length:
  // an empty byte array has none, and must still come back as one.)
  return text.includes('"$bytes"')
    ? land(message, frame.subarray(4 + size), own)
    : message;
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
 * Reads framed messages from a connection until it ends, without copying
 * a large frame twice (once out of each read, once to join them):
 * small frames come out of one reused buffer, and a frame larger than it
 * is read straight into a buffer of its own, whose byte arrays the message
 * then points into. A torn frame at the end is dropped.
 */
export async function* readFramesFrom(
  conn: { read(into: Uint8Array): Promise<number | null> },
  size = 65536,
): AsyncGenerator<unknown> {
  const buffer = new Uint8Array(size);
  const view = new DataView(buffer.buffer);
  let start = 0;
  let end = 0;
  /** Reads at least `count` bytes from `start` into the buffer; false at the end. */
  const fill = async (count: number): Promise<boolean> => {
    if (start + count > buffer.byteLength) {
      buffer.copyWithin(0, start, end);
      end -= start;
      start = 0;
    }
    while (end - start < count) {
      const read = await conn.read(buffer.subarray(end));
      if (read === null) return false;
      end += read;
    }
    return true;
  };
  while (true) {
    // fill() only when bytes are missing: an async call per frame costs.
    if (end - start < 4 && !await fill(4)) return;
    const length = view.getUint32(start, true);
    if (length + 4 <= buffer.byteLength) {
      if (end - start < 4 + length && !await fill(4 + length)) return;
      const frame = buffer.subarray(start + 4, start + 4 + length);
      start += 4 + length;
      if (start === end) start = end = 0;
      yield decodeFrame(frame);
      continue;
    }
    const frame = new Uint8Array(length);
    let at = end - start - 4;
    frame.set(buffer.subarray(start + 4, end));
    start = end = 0;
    while (at < length) {
      const read = await conn.read(frame.subarray(at));
      if (read === null) return;
      at += read;
    }
    yield decodeFrame(frame, true);
  }
}

/**
 * Sends framed messages one at a time and in order, without the sender
 * waiting: `write` puts one piece of a frame (see framePieces) on the
 * wire. A write that fails is dropped: the other end is gone, and the
 * channel's owner learns of that another way (an exit status, an input
 * that ends).
 */
export class FrameWriter {
  readonly #write: (piece: Uint8Array) => Promise<unknown>;
  #writing: Promise<unknown> = Promise.resolve();

  constructor(write: (piece: Uint8Array) => Promise<unknown>) {
    this.#write = write;
  }

  /** Frames `message` and queues it behind the frames sent before. */
  send(message: unknown): void {
    const pieces = framePieces(message);
    const write = this.#write;
    this.#writing = this.#writing.then(async () => {
      for (const piece of pieces) await write(piece);
    }).catch(() => {});
  }

  /** Resolves once every frame sent so far is written or dropped. */
  get flushed(): Promise<unknown> {
    return this.#writing;
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
