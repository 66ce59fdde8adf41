/**
 * A buffered request body's temporary file, for a body larger than
 * `bodyBufferSize`: written in blocks as the body arrives, unlinked at
 * once where the system allows it, then read back from its start as the
 * stream a worker is handed. Where the server may not write, there is no
 * file (logged once per folder) and the body stays in memory.
 *
 * @module
 */

import { log } from "./logging.ts";

/** A body's temporary file, unlinked at once where the system allows it. */
export interface SpillFile {
  write(chunk: Uint8Array): Promise<void>;
  /** The file from its start, as a stream a worker reads in batches. */
  reread(): Promise<ReadableStreamDefaultReader<Uint8Array>>;
  close(): void;
}

/** The size of the blocks a body's file is written and read in. */
const FILE_BLOCK_BYTES = 1024 * 1024;

const refusedFolders = new Set<string>();

/**
 * Opens a temporary file for a body, or returns undefined (logged once per
 * folder) when the server may not write there: the body then stays in
 * memory, still bounded by limitRequestBody.
 */
export async function openSpillFile(
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
      return reader;
    },
    close() {
      if (reader) reader.cancel().catch(() => {});
      close();
    },
  };
}
