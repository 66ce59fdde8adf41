/**
 * A fresh Pyodide interpreter set up for the gateway: the group's
 * environment, Python's sockets (sockets.ts), the gateway's Python
 * modules, the host folders (host_folders.ts), how Python waits (without
 * spinning, and interruptibly), the bridge's calls and the preloaded
 * modules.
 *
 * @module
 */

import { loadPyodide, type PyodideAPI } from "npm:pyodide@314.0.7";
import type { PyProxy } from "npm:pyodide@314.0.7/ffi";
import type { LogLevel } from "./logging.ts";
import type { InterpreterSettings } from "./protocol.ts";
import { type ClientSocket, createConnect, resolves } from "./sockets.ts";
import {
  caBundleFolders,
  type FolderView,
  mountHostFolder,
  readonlyFolders,
  type WriteGuards,
} from "./host_folders.ts";
import { tolerateCreateRace } from "./shared_folders.ts";
import { shareCompiledPyodide } from "./compiled_pyodide.ts";
import type { Waiters } from "./waiters.ts";
import { RESEED, restoreFrom, sayMissing } from "./snapshots.ts";
import { maySave, saveSnapshot } from "./snapshot_save.ts";
import type { SnapshotScript } from "./snapshot_key.ts";
import { importScripts, scriptsRestored } from "./snapshot_scripts.ts";

/** A Python callable that may suspend (JSPI): call it with callPromising. */
export type PyCallable = PyProxy & ((...args: unknown[]) => unknown) & {
  callPromising(...args: unknown[]): Promise<unknown>;
};

/** An interpreter with the bridge's calls at hand. */
export interface Interpreter extends FolderView {
  /** The snapshot file its inputs name, when snapshots are on. */
  snapshot?: string;
  /** True when this interpreter saved a snapshot with its WSGI scripts in. */
  scripted?: boolean;
  begin: PyCallable;
  resume: PyCallable;
  finish: PyCallable;
  abort: PyCallable;
}

/** What an interpreter starts with beside the group's settings. */
export interface StartupOptions {
  /** A virtualenv's site-packages (pythonHome). */
  sitePackages: string[];
  /** The gateway's Python modules by name (read once, shared). */
  sources: () => Promise<Map<string, string>>;
  /** Where a line Python prints goes: stdout as "info", stderr as "error". */
  print: (level: LogLevel, line: string) => void;
  /** Errors of the start-up itself (a preload that failed). */
  emit: (level: LogLevel, message: string) => void;
  /** The flag through which another thread raises KeyboardInterrupt. */
  interruptBuffer?: Int32Array;
  /** The flag time.sleep() waits on (the interrupt flag, if there is one). */
  sleepFlag: () => Int32Array;
  /** python/files.py's rules (writable). */
  writeGuards: WriteGuards;
  /** What Python's locks and sleeps wait on with threads (waiters.ts). */
  waiter: Waiters["create"];
  /** Called when Python raises MemoryError (see memoryLimit). */
  memoryError: () => void;
  /** Gets this interpreter's closeAll(), for when it is discarded. */
  socketClosers: (() => void)[];
  /** The snapshot file these inputs name (snapshot_key.ts), when snapshots are on. */
  snapshotFile: (
    sources: Map<string, string>,
    paths: string[],
  ) => string | undefined;
  /** Scripts to import before the snapshot is taken (`snapshot.script`). */
  scripts: SnapshotScript[];
}

/**
 * time.sleep() for Python: Pyodide's own spins on the CPU and cannot be
 * interrupted. This one waits on the interrupt flag, so it uses no CPU
 * and a request timeout ends it at once. Returns true when interrupted.
 */
function sleepOn(flag: Int32Array, seconds: number): boolean {
  const result = Atomics.wait(flag, 0, 0, seconds * 1000);
  if (result === "timed-out") return false;
  Atomics.store(flag, 0, 0);
  return true;
}

/** Starts an interpreter for a worker of the group `settings` describe. */
export async function startInterpreter(
  settings: InterpreterSettings,
  options: StartupOptions,
): Promise<Interpreter> {
  shareCompiledPyodide(settings.pyodideFolder);
  const sources = await options.sources();
  const paths = [...settings.pythonPath, ...options.sitePackages];
  const snapshot = options.snapshotFile(sources, paths);
  const inherited = settings.inheritedEnv ?? {};
  const scripts = snapshot ? options.scripts : [];
  // A snapshot holds the group's own env only: the server's environment
  // stays out of the file and is added after (see README, Cold start),
  // unless a script is imported into it, whose import may read it.
  const env = snapshot && scripts.length === 0
    ? { HOME: "/home/pyodide", ...settings.env }
    : { HOME: "/home/pyodide", ...inherited, ...settings.env };
  let pyodide = snapshot
    ? await restoreFrom(snapshot, options.emit, {
      env,
      indexURL: settings.pyodideFolder,
    })
    : undefined;
  const restored = pyodide !== undefined;
  if (snapshot && !restored && settings.snapshot?.write === false) {
    sayMissing(snapshot, options.emit);
  }
  const making = snapshot !== undefined && !restored &&
    settings.snapshot?.write === true &&
    maySave(settings.snapshot.folder, options.emit);
  pyodide ??= await loadPyodide(
    {
      env,
      ...(settings.pyodideFolder ? { indexURL: settings.pyodideFolder } : {}),
      ...(making ? { _makeSnapshot: true } : {}),
    } as Parameters<
      typeof loadPyodide
    >[0],
  );
  const mounted = new Set<string>();
  const interpreter = {
    pyodide,
    mounted,
    readonly: readonlyFolders(settings, options.sitePackages),
    snapshot,
  } as Interpreter;
  pyodide.setStdout({ batched: (line) => options.print("info", line) });
  pyodide.setStderr({ batched: (line) => options.print("error", line) });
  if (options.interruptBuffer) {
    pyodide.setInterruptBuffer(options.interruptBuffer);
  }
  // Files and mounts live outside the heap: a restored one needs them too.
  tolerateCreateRace(pyodide.FS);
  pyodide.FS.mkdirTree("/deno_wsgi");
  for (const [name, source] of sources) {
    pyodide.FS.writeFile(`/deno_wsgi/${name}.py`, source);
  }
  for (const path of paths) mountHostFolder(interpreter, path);
  if (settings.home) mountHostFolder(interpreter, settings.home);
  for (const path of settings.writable) {
    mountHostFolder(interpreter, path);
  }
  const bundles = caBundleFolders({ ...inherited, ...settings.env });
  for (const [folder, variable] of bundles) {
    mountHostFolder(interpreter, folder);
    interpreter.readonly.set(folder, `the CA bundle ${variable} names`);
  }
  if (restored) {
    pyodide.runPython(RESEED);
    if (scripts.length > 0) {
      interpreter.scripted = scriptsRestored(pyodide, scripts);
    }
  } else {
    pyodide.runPython(
      'import sys\nif "/deno_wsgi" not in sys.path: sys.path.insert(0, "/deno_wsgi")',
    );
    const bridge = pyodide.pyimport("wsgi_bridge");
    bridge.add_paths(pyodide.toPy(paths));
    // Preloaded modules are found from the working directory too (`home`).
    if (snapshot && settings.home) bridge.change_directory(settings.home);
    bridge.destroy();
    if (snapshot) {
      // The gateway's own modules compile from source (the in-memory file
      // system keeps no bytecode): imported here, a restore skips that.
      pyodide.runPython(snapshotImports(settings.threads));
      // Preloaded modules belong in the snapshot; without one they are
      // imported last, once the network and the write guards are in.
      await preload(pyodide, settings.preload, options.emit);
      if (making) {
        saveSnapshot(pyodide, snapshot, options.emit);
        // The snapshot without the scripts stays if one cannot be in it.
        if (await importScripts(interpreter, scripts, options.emit)) {
          interpreter.scripted = saveSnapshot(
            pyodide,
            snapshot,
            options.emit,
            "with its WSGI scripts",
          );
        }
      }
    }
  }
  if (snapshot) addEnvironment(pyodide, inherited, settings.env);
  const sockets = createConnect({ allowNet: settings.allowNet });
  options.socketClosers.push(sockets.closeAll);
  // Our ClientSocket has the shape of Pyodide's (undeclared) Socket type.
  await pyodide.useNodeSockFS({ connect: sockets.connect as never });
  interpreter.files = pyodide.pyimport("files");
  options.writeGuards.install(interpreter);
  const socketOf = (fd: number): ClientSocket | undefined =>
    // deno-lint-ignore no-explicit-any
    (pyodide.FS as any).getStream(fd)?.node?.sock?.wcgSocket ?? undefined;
  const network = pyodide.pyimport("network");
  network.install({
    socketOf,
    setNextTimeout: sockets.setNextTimeout,
    lookup: resolves,
    requestTls: (
      client: ClientSocket,
      hostname: string | undefined,
      ca: string | undefined,
      verify: boolean,
      checkHostname: boolean,
    ) => {
      client.tlsRequest = {
        hostname: hostname ?? undefined,
        ca: ca ?? undefined,
        verify,
        checkHostname,
      };
    },
  });
  network.destroy();
  const bridge = pyodide.pyimport("wsgi_bridge");
  if (settings.threads > 1) {
    const threads = pyodide.pyimport("threads");
    threads.install({ waiter: options.waiter, socketOf });
    bridge.use_threads(threads);
    threads.destroy();
  } else {
    bridge.install_sleep((seconds: number) =>
      sleepOn(options.sleepFlag(), seconds)
    );
  }
  if (settings.home) bridge.change_directory(settings.home);
  // After any snapshot was saved: a JS function cannot be captured in one.
  if (!bridge.watch_memory_errors(options.memoryError)) {
    options.emit(
      "warn",
      "no sys.monitoring tool id was free: a MemoryError will not recycle this worker",
    );
  }
  // Copies: attribute proxies die with the module proxy they came from.
  interpreter.begin = bridge.begin.copy();
  interpreter.resume = bridge.resume.copy();
  interpreter.finish = bridge.finish.copy();
  interpreter.abort = bridge.abort.copy();
  bridge.destroy();
  // After a restore, only a preload that failed at snapshot time is
  // missing (and is tried, and logged, again).
  if (!snapshot || restored) {
    await preload(pyodide, settings.preload, options.emit);
  }
  return interpreter;
}

/**
 * What a snapshot imports ahead: the gateway's modules that are installed
 * after a restore, and the codecs a first request imports (Werkzeug encodes
 * host names with IDNA). Importing them takes 300-600 ms of a restore
 * otherwise. None of them draws entropy or keeps a JavaScript object.
 */
function snapshotImports(threads: number): string {
  const modules = [
    "files",
    "network",
    "encodings.idna",
    "encodings.unicode_escape",
    "stringprep",
  ];
  if (threads > 1) modules.push("threads");
  return `import ${modules.join(", ")}`;
}

/** Imports the group's `preload` modules that are not imported yet. */
async function preload(
  pyodide: PyodideAPI,
  modules: string[],
  emit: StartupOptions["emit"],
): Promise<void> {
  const loaded = pyodide.pyimport("sys").modules;
  const missing = modules.filter((name) => !loaded.has(name));
  loaded.destroy();
  if (missing.length === 0) return;
  const bridge = pyodide.pyimport("wsgi_bridge");
  const importModule = bridge.import_module.copy() as PyCallable;
  bridge.destroy();
  for (const module of missing) {
    try {
      await importModule.callPromising(module);
    } catch (error) {
      emit(
        "error",
        `preload of module ${module} failed:\n${(error as Error).message}`,
      );
    }
  }
  importModule.destroy();
}

/** The server's environment into os.environ, under the group's own env. */
function addEnvironment(
  pyodide: PyodideAPI,
  inherited: Record<string, string>,
  own: Record<string, string>,
): void {
  const added = Object.fromEntries(
    Object.entries(inherited).filter(([name]) => !(name in own)),
  );
  if (Object.keys(added).length === 0) return;
  const update = pyodide.runPython("import os\nos.environ.update");
  update(pyodide.toPy(added));
  update.destroy();
}
