/**
 * A request's body on its way to Python. By default the server reads it
 * whole before a worker is taken (request buffering: in memory up to a
 * size, in a temporary file beyond it), so a slow or stalled upload costs a
 * connection and never a worker; `bodyTimeout` ends one that does not
 * arrive in time. Without buffering, small bodies are read whole and larger
 * or chunked ones stream in batches as the app reads them.
 *
 * @module
 */

import { StatusError } from "./responses.ts";
import { log } from "./logging.ts";

/** Without buffering, bodies up to this size are read whole before Python starts. */
const INLINE_BODY_LIMIT = 256 * 1024;

/** The request body, in the form a worker hands it over. */
export type RequestBody =
  | { kind: "none" }
  | { kind: "bytes"; data: Uint8Array }
  | { kind: "stream"; reader: ReadableStreamDefaultReader<Uint8Array> };

/** How a mount reads request bodies: mountWsgi's options, checked. */
export interface BodySettings {
  /** `limitRequestBody` in bytes; 0 = no limit. */
  limit: number;
  /** `requestBuffering`: read the whole body before Python is involved. */
  buffering: boolean;
  /** `bodyBufferSize`: bytes held in memory before the body goes to a file. */
  bufferSize: number;
  /** `bodyBufferFolder`: where those files go; undefined = the OS's temporary folder. */
  folder?: string;
  /** `bodyTimeout` in seconds; 0 = none. */
  timeout: number;
  /** `bodyMinRate` in bytes per second: each such many bytes add a second. */
  minRate: number;
}

/** Why a body could not be read, with the status the client gets. */
export class BodyError extends StatusError {}

/** A body grew past `limitRequestBody`. */
export class BodyTooLargeError extends BodyError {
  constructor(limit: number) {
    super(
      413,
      `the request body is larger than limitRequestBody (${limit} bytes)`,
    );
    this.name = "BodyTooLargeError";
  }
}

/** A body did not arrive within bodyTimeout (and its minimum-rate extension). */
export class BodyTimeoutError extends BodyError {
  constructor(settings: BodySettings, received: number) {
    super(
      408,
      `the request body did not arrive within bodyTimeout (${settings.timeout} s${
        settings.minRate > 0
          ? ` plus 1 s per ${settings.minRate} bytes received`
          : ""
      }); ${received} bytes came`,
    );
    this.name = "BodyTimeoutError";
  }
}

/**
 * mod_reqtimeout's body rule, as mod_wsgi-express sets it up
 * (`RequestReadTimeout body=15,MinRate=500`): the body has `timeout`
 * seconds from its first read, and every `minRate` bytes received add a
 * second. One timer per body, moved on only when it fires, so that a fast
 * upload costs no timer work per chunk.
 */
class BodyDeadline {
  received = 0;
  expired = false;
  readonly #settings: BodySettings;
  readonly #start = performance.now();
  readonly #onExpire: () => void;
  #timer?: ReturnType<typeof setTimeout>;

  constructor(settings: BodySettings, onExpire: () => void) {
    this.#settings = settings;
    this.#onExpire = onExpire;
    if (settings.timeout > 0) this.#arm();
  }

  #at(): number {
    const { timeout, minRate } = this.#settings;
    const extra = minRate > 0 ? this.received / minRate : 0;
    return this.#start + (timeout + extra) * 1000;
  }

  #arm(): void {
    const left = this.#at() - performance.now();
    if (left <= 0) {
      this.#timer = undefined;
      this.expired = true;
      this.#onExpire();
      return;
    }
    this.#timer = setTimeout(() => this.#arm(), Math.ceil(left));
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

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
      deadline.received += chunk.byteLength;
      if (settings.limit > 0 && deadline.received > settings.limit) {
        throw new BodyTooLargeError(settings.limit);
      }
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
    if (deadline.expired) {
      throw new BodyTimeoutError(settings, deadline.received);
    }
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
    return { body: await file.reread(), length, release: () => file.close() };
  }
  return {
    body: { kind: "bytes", data: concatenate(parts, length) },
    length,
    release() {},
  };
}

function concatenate(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const whole = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    whole.set(part, offset);
    offset += part.length;
  }
  return whole;
}

/** A body's temporary file, unlinked at once where the system allows it. */
interface SpillFile {
  write(chunk: Uint8Array): Promise<void>;
  /** The file from its start, as a stream a worker reads in batches. */
  reread(): Promise<RequestBody>;
  close(): void;
}

const refusedFolders = new Set<string>();

/**
 * Opens a temporary file for a body, or returns undefined (logged once per
 * folder) when the server may not write there: the body then stays in
 * memory, still bounded by limitRequestBody.
 */
async function openSpillFile(
  folder: string | undefined,
): Promise<SpillFile | undefined> {
  // Asked without prompting: a server must not stop for a permission prompt.
  const allowed = Deno.permissions.querySync(
    folder ? { name: "write", path: folder } : { name: "write" },
  ).state === "granted";
  let path: string | undefined;
  let file: Deno.FsFile | undefined;
  try {
    if (!allowed) throw new Deno.errors.NotCapable("write access");
    path = await Deno.makeTempFile({ dir: folder, prefix: "deno-wsgi-body-" });
    file = await Deno.open(path, { read: true, write: true });
  } catch (error) {
    const where = folder ?? "the temporary folder";
    if (!refusedFolders.has(where)) {
      refusedFolders.add(where);
      log(
        "warn",
        `request bodies larger than bodyBufferSize are kept in memory (up to limitRequestBody): the server may not write to ${where} (${
          (error as Error).message
        }); run it with --allow-write=${folder ?? "<folder>"}${
          folder ? "" : " and set the mount's bodyBufferFolder to that folder"
        }`,
      );
    }
    if (path) await Deno.remove(path).catch(() => {});
    return undefined;
  }
  // Unlinked while open, the file disappears even if the process dies.
  let leftover: string | undefined = path;
  try {
    await Deno.remove(path);
    leftover = undefined;
  } catch {
    // Some systems refuse to remove an open file: it goes at close().
  }
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let closed = false;
  const opened = file;
  // Chunks from the socket are small: gathered into blocks, each write
  // and each read of the file is one call instead of dozens.
  let pending = new Uint8Array(FILE_BLOCK_BYTES);
  let filled = 0;
  const writeAll = async (data: Uint8Array) => {
    let offset = 0;
    while (offset < data.length) {
      offset += await opened.write(data.subarray(offset));
    }
  };
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      opened.close();
    } catch {
      // Already closed.
    }
    if (leftover) Deno.remove(leftover).catch(() => {});
  };
  return {
    async write(chunk) {
      if (filled + chunk.length > pending.length) {
        await writeAll(pending.subarray(0, filled));
        filled = 0;
      }
      if (chunk.length >= pending.length) return writeAll(chunk);
      pending.set(chunk, filled);
      filled += chunk.length;
    },
    async reread() {
      await writeAll(pending.subarray(0, filled));
      pending = new Uint8Array(0);
      await opened.seek(0, Deno.SeekMode.Start);
      reader = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const block = new Uint8Array(FILE_BLOCK_BYTES);
          let size = 0;
          while (size < block.length) {
            const n = await opened.read(block.subarray(size));
            if (n === null) break;
            size += n;
          }
          if (size > 0) controller.enqueue(block.subarray(0, size));
          if (size < block.length) {
            close();
            controller.close();
          }
        },
        cancel: close,
      }, { highWaterMark: 0 }).getReader();
      return { kind: "stream", reader };
    },
    close() {
      if (reader) reader.cancel().catch(() => {});
      close();
    },
  };
}

/** The size of the blocks a body's file is written and read in. */
const FILE_BLOCK_BYTES = 1024 * 1024;

/**
 * The body as Python reads it, without buffering: limitRequestBody is
 * counted as it streams, and bodyTimeout runs from the app's first read.
 */
function streamBody(
  stream: ReadableStream<Uint8Array>,
  settings: BodySettings,
  onFailure?: (error: BodyError) => void,
): ReadableStreamDefaultReader<Uint8Array> {
  const source = stream.getReader();
  let deadline: BodyDeadline | undefined;
  const fail = (
    controller: ReadableStreamDefaultController<Uint8Array>,
    error: BodyError,
  ) => {
    deadline?.stop();
    source.cancel().catch(() => {});
    onFailure?.(error);
    controller.error(error);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      deadline ??= new BodyDeadline(
        settings,
        () => void source.cancel().catch(() => {}),
      );
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await source.read();
      } catch (error) {
        if (!deadline.expired) {
          deadline.stop();
          controller.error(error);
          return;
        }
        result = { done: true, value: undefined };
      }
      if (deadline.expired) {
        return fail(
          controller,
          new BodyTimeoutError(settings, deadline.received),
        );
      }
      if (result.done) {
        deadline.stop();
        controller.close();
        return;
      }
      deadline.received += result.value.byteLength;
      if (settings.limit > 0 && deadline.received > settings.limit) {
        return fail(controller, new BodyTooLargeError(settings.limit));
      }
      controller.enqueue(result.value);
    },
    cancel() {
      deadline?.stop();
      return source.cancel();
    },
  }, { highWaterMark: 0 }).getReader();
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
