/**
 * Path containment: what a URL path below an alias may name on disk.
 *
 * Two steps: the URL path is split into segments and each one is decoded
 * and checked on its own (no "..", no encoded "/" or "\", no NUL, no
 * dotfiles unless asked for), then each step below the root is lstat-ed
 * and, if one is a symlink, the path is resolved with `realPath` and must
 * still lie inside the root, so symlinks cannot lead out of it either.
 *
 * The calls are synchronous: on a local disk they are answered from the
 * kernel's caches in microseconds, while each asynchronous call costs a
 * trip through Deno's thread pool, which halved the requests per second for
 * small files.
 *
 * @module
 */

import { join } from "node:path";

/** Why a path is refused, as the HTTP status that answers it. */
export type Refusal = 400 | 403 | 404;

/** A file or folder found inside the root, with its stat. */
export interface Contained {
  /** Its absolute path; where a symlink led, the real path. */
  path: string;
  info: Deno.FileInfo;
}

/**
 * Decodes the part of a URL path below the root into segments that can
 * only name something below it, or the refusal: 400 for a malformed
 * escape, 404 for a "." or ".." segment, an encoded "/" or "\", a NUL, or
 * a dotfile when `dotfiles` is false.
 */
export function pathSegments(
  remainder: string,
  dotfiles: boolean,
): string[] | Refusal {
  const segments: string[] = [];
  for (const raw of remainder.split("/")) {
    if (raw === "") continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return 400;
    }
    if (
      segment === "." || segment === ".." || /[/\\\0]/.test(segment) ||
      (!dotfiles && segment.startsWith("."))
    ) {
      return 404;
    }
    segments.push(segment);
  }
  return segments;
}

/** Whether `path` is `root` or lies below it (both absolute, real paths). */
export function isInside(root: string, path: string): boolean {
  return path === root ||
    path.startsWith(root.endsWith("/") ? root : root + "/");
}

/** The refusal for a failed file system call: 403 when Deno may not look. */
export function refusalFor(error: unknown): Refusal {
  return error instanceof Deno.errors.PermissionDenied ? 403 : 404;
}

/**
 * The file or folder that `segments` name below `root` (a real path), or
 * the refusal. The segments cannot climb (see pathSegments), so only a
 * symlink can lead out of the root: each step is lstat-ed, and only when
 * one is a symlink is the whole path resolved with realPath and checked to
 * lie inside the root. Lstat-ing the few steps below the root costs fewer
 * system calls than realPath, which walks the root's own path as well, on
 * every request.
 */
export function resolveInsideRoot(
  root: string,
  segments: string[],
): Contained | Refusal {
  try {
    let path = root;
    let info: Deno.FileInfo | undefined;
    for (const segment of segments) {
      path = join(path, segment);
      info = Deno.lstatSync(path);
      if (info.isSymlink) {
        const real = Deno.realPathSync(join(root, ...segments));
        if (!isInside(root, real)) return 404;
        return { path: real, info: Deno.statSync(real) };
      }
    }
    return { path, info: info ?? Deno.statSync(root) };
  } catch (error) {
    return refusalFor(error);
  }
}

/**
 * The real path of `name` in `folder` if it exists and lies inside `root`,
 * else null: for an index file, which may be a symlink too.
 */
export function realPathInside(
  root: string,
  folder: string,
  name: string,
): string | null {
  try {
    const real = Deno.realPathSync(join(folder, name));
    return isInside(root, real) ? real : null;
  } catch {
    return null;
  }
}
