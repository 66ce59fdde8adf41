/**
 * The layout of a snapshot file, without touching one: the header this
 * project puts in front of Pyodide's snapshot (a magic, the body's CRC-32
 * and its length), and the start of Pyodide's own header, which says where
 * the heap begins. Apart from the file I/O, so that every way a file can be
 * refused is checked here on bytes alone.
 *
 * @module
 */

import { crc32 } from "node:zlib";

/** Why a snapshot file was not used. */
export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SnapshotError";
  }
}

const MAGIC = new TextEncoder().encode("DWSNAP01");
/** Magic, CRC-32 of the body, body length (u32 each after the magic). */
export const HEADER_BYTES = MAGIC.length + 8;
/** A WebAssembly page. */
export const PAGE = 65536;
/** The bytes of Pyodide's header that say where the heap starts. */
export const PYODIDE_HEADER_BYTES = 16;

/** The header written in front of `body`. */
export function packHeader(body: Uint8Array): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  header.set(MAGIC);
  const view = new DataView(header.buffer);
  view.setUint32(MAGIC.length, crc32(body), true);
  view.setUint32(MAGIC.length + 4, body.length, true);
  return header;
}

/** What a file's header says of the body that follows it. */
export interface SnapshotHeader {
  /** CRC-32 of the whole body. */
  checksum: number;
  /** The body's length in bytes. */
  length: number;
}

/**
 * Checks the header read from the file at `path` (`header`, as many bytes
 * as it had) against the body's size on disk. SnapshotError when the file
 * is foreign or truncated.
 */
export function unpackHeader(
  path: string,
  header: Uint8Array,
  bodyBytes: number,
): SnapshotHeader {
  if (
    header.length !== HEADER_BYTES ||
    MAGIC.some((byte, i) => header[i] !== byte)
  ) {
    throw new SnapshotError(`${path} is not a snapshot file`);
  }
  const view = new DataView(header.buffer, header.byteOffset);
  const checksum = view.getUint32(MAGIC.length, true);
  const length = view.getUint32(MAGIC.length + 4, true);
  if (bodyBytes !== length) {
    throw new SnapshotError(
      `${path} is truncated: ${bodyBytes} of ${length} bytes`,
    );
  }
  return { checksum, length };
}

/**
 * Where the heap starts in a body of `length` bytes, from the first
 * PYODIDE_HEADER_BYTES of it (a magic number, then that offset).
 * SnapshotError when it cannot be Pyodide's.
 */
export function heapOffsetOf(
  path: string,
  start: Uint8Array,
  length: number,
): number {
  const heapOffset = new DataView(start.buffer, start.byteOffset)
    .getUint32(4, true);
  if (heapOffset < 16 || heapOffset > length || heapOffset % 16 !== 0) {
    throw new SnapshotError(
      `${path} is corrupt: its header is not Pyodide's`,
    );
  }
  return heapOffset;
}
