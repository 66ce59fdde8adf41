/**
 * Host folders that several workers share (`writable`, through Emscripten's
 * NODEFS): what Emscripten's file system gets wrong when another worker
 * changes the folder at the same moment.
 *
 * @module
 */

/** Emscripten's errno values (not the host's). */
const EEXIST = 20;
const O_CREAT = 64;
const O_EXCL = 128;

/** The part of Emscripten's `FS` this module touches. */
export interface EmscriptenFS {
  open(path: unknown, flags: unknown, mode?: number): unknown;
}

/**
 * Makes `open(path, O_CREAT)` without `O_EXCL` succeed when another worker
 * creates the same file at the same moment. Emscripten looks the name up
 * twice, once in open() and once more before it creates the file; when the
 * file appears on the host in between, open() fails with EEXIST, which POSIX
 * never allows without O_EXCL. SQLite then falls back to opening the
 * database read-only ("attempt to write a readonly database" on its first
 * write). A second try finds the file and opens it.
 */
export function tolerateCreateRace(fs: EmscriptenFS): void {
  const open = fs.open.bind(fs);
  fs.open = (path, flags, mode) => {
    try {
      return open(path, flags, mode);
    } catch (error) {
      if (
        typeof flags === "number" && (flags & O_CREAT) !== 0 &&
        (flags & O_EXCL) === 0 &&
        (error as { errno?: number })?.errno === EEXIST
      ) {
        return open(path, flags, mode);
      }
      throw error;
    }
  };
}
