/**
 * Host folders that several workers share (`writable`, through Emscripten's
 * NODEFS): what Emscripten's file system gets wrong when another worker
 * changes the folder at the same moment.
 *
 * @module
 */

import { closeSync, openSync } from "node:fs";

/** Emscripten's errno values and flags (not the host's). */
const EEXIST = 20;
const ENOENT = 44;
const O_CREAT = 64;
const O_EXCL = 128;
/** Tries of one create that keeps losing races (each is a lookup). */
const CREATE_ATTEMPTS = 20;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** The part of Emscripten's NODEFS that this module touches. */
export interface EmscriptenNodeFS {
  node_ops: {
    mknod(parent: unknown, name: string, mode: number, dev: number): unknown;
  };
  realPath(node: unknown): string;
  createNode(parent: unknown, name: string, mode: number, dev: number): unknown;
  tryFSOperation<T>(operation: () => T): T;
}

/** The part of Emscripten's `FS` this module touches. */
export interface EmscriptenFS {
  open(path: unknown, flags: unknown, mode?: number): unknown;
  filesystems?: { NODEFS?: EmscriptenNodeFS };
}

/**
 * Makes a file that two workers create at the same moment one file, never
 * emptied, and its `open(path, O_CREAT)` (without `O_EXCL`) succeed in both.
 *
 * Emscripten looks the name up twice, once in open() and once more before it
 * creates the file; when the file appears on the host in between, open()
 * fails with EEXIST, which POSIX never allows without O_EXCL, and SQLite then
 * opens the database read-only ("attempt to write a readonly database" on its
 * first write). When the file goes away in between instead, open() fails with
 * ENOENT. Another try looks the name up afresh and opens or creates the file;
 * a create that keeps losing (or whose folder is gone) gives up after
 * CREATE_ATTEMPTS tries with the last error.
 *
 * Worse, NODEFS creates a file with `writeFileSync(path, "")`, which
 * truncates: a file that another worker created and filled after the second
 * lookup was emptied, and a SQLite database lost its committed tables and
 * rows ("no such table" in a worker that had just created it). Files are
 * created with O_EXCL on the host instead, so that case becomes the EEXIST
 * above, and another try.
 */
export function tolerateCreateRace(fs: EmscriptenFS): void {
  const nodefs = fs.filesystems?.NODEFS;
  if (nodefs) createExclusively(nodefs);
  const open = fs.open.bind(fs);
  fs.open = (path, flags, mode) => {
    const creates = typeof flags === "number" && (flags & O_CREAT) !== 0 &&
      (flags & O_EXCL) === 0;
    for (let attempt = 1;; attempt++) {
      try {
        return open(path, flags, mode);
      } catch (error) {
        const errno = (error as { errno?: number })?.errno;
        if (
          !creates || attempt >= CREATE_ATTEMPTS ||
          (errno !== EEXIST && errno !== ENOENT)
        ) {
          throw error;
        }
      }
    }
  };
}

/** NODEFS's mknod, creating regular files with O_EXCL instead of O_TRUNC. */
function createExclusively(nodefs: EmscriptenNodeFS): void {
  const mknod = nodefs.node_ops.mknod;
  nodefs.node_ops.mknod = (parent, name, mode, dev) => {
    if ((mode & S_IFMT) !== S_IFREG) return mknod(parent, name, mode, dev);
    const path = `${nodefs.realPath(parent).replace(/\/$/, "")}/${name}`;
    // tryFSOperation turns the host's EEXIST into Emscripten's errno.
    nodefs.tryFSOperation(() => closeSync(openSync(path, "wx", mode & 0o7777)));
    return nodefs.createNode(parent, name, mode, dev);
  };
}
