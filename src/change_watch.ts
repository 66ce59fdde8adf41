/**
 * mod_wsgi-express's `--reload-on-changes`: restart a group when a Python
 * file it may have loaded changes. mod_wsgi-express watches the modules it
 * has imported; here the folders they come from (the scripts' folders,
 * `pythonPath`, `home`) are watched with the kernel's notifications, so a
 * save is noticed at once instead of on a polling round.
 *
 * @module
 */

/** Stops watching. */
export interface ChangeWatch {
  close(): void;
}

/** What counts as a code change: Python sources and WSGI scripts. */
export function isCodeFile(path: string): boolean {
  return /\.(py|wsgi)$/.test(path) && !path.includes("/__pycache__/");
}

/**
 * Calls `changed` once per burst of changes to code files under `folders`
 * (an editor's save is often several events: write, rename, chmod).
 */
export function watchCode(
  folders: string[],
  changed: (path: string) => void,
  options: { settle?: number } = {},
): ChangeWatch {
  const settle = options.settle ?? 200;
  const watcher = Deno.watchFs([...new Set(folders)], { recursive: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let first: string | undefined;
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "access") continue;
        const path = event.paths.find(isCodeFile);
        if (!path) continue;
        first ??= path;
        clearTimeout(timer);
        timer = setTimeout(() => {
          const what = first!;
          first = undefined;
          changed(what);
        }, settle);
      }
    } catch {
      // The watcher was closed, or a folder vanished: nothing more to see.
    }
  })();
  return {
    close() {
      clearTimeout(timer);
      try {
        watcher.close();
      } catch {
        // Already closed.
      }
    },
  };
}
