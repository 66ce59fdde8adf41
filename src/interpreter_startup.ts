/**
 * A fresh Pyodide interpreter set up for the gateway: the group's
 * environment, Python's sockets (sockets.ts), the gateway's Python
 * modules, the host folders (host_folders.ts), how Python waits (without
 * spinning, and interruptibly), the bridge's calls and the preloaded
 * modules.
 *
 * @module
 */

import { loadPyodide } from "npm:pyodide@314.0.7";
import type { PyProxy } from "npm:pyodide@314.0.7/ffi";
import type { LogLevel } from "./logging.ts";
import type { InterpreterSettings } from "./protocol.ts";
import { type ClientSocket, createConnect, resolves } from "./sockets.ts";
import {
  type FolderView,
  mountHostFolder,
  readonlyFolders,
  type WriteGuards,
} from "./host_folders.ts";
import { tolerateCreateRace } from "./shared_folders.ts";
import type { Waiters } from "./waiters.ts";

/** A Python callable that may suspend (JSPI): call it with callPromising. */
export type PyCallable = PyProxy & ((...args: unknown[]) => unknown) & {
  callPromising(...args: unknown[]): Promise<unknown>;
};

/** An interpreter with the bridge's calls at hand. */
export interface Interpreter extends FolderView {
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
  /** Gets this interpreter's closeAll(), for when it is discarded. */
  socketClosers: (() => void)[];
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
  const pyodide = await loadPyodide({
    env: { HOME: "/home/pyodide", ...settings.env },
  });
  const sockets = createConnect({ allowNet: settings.allowNet });
  options.socketClosers.push(sockets.closeAll);
  // Our ClientSocket has the shape of Pyodide's (undeclared) Socket type.
  await pyodide.useNodeSockFS({ connect: sockets.connect as never });
  const mounted = new Set<string>();
  const interpreter = {
    pyodide,
    mounted,
    readonly: readonlyFolders(settings, options.sitePackages),
  } as Interpreter;
  pyodide.setStdout({ batched: (line) => options.print("info", line) });
  pyodide.setStderr({ batched: (line) => options.print("error", line) });
  if (options.interruptBuffer) {
    pyodide.setInterruptBuffer(options.interruptBuffer);
  }
  tolerateCreateRace(pyodide.FS);
  pyodide.FS.mkdirTree("/deno_wsgi");
  for (const [name, source] of await options.sources()) {
    pyodide.FS.writeFile(`/deno_wsgi/${name}.py`, source);
  }
  const paths = [...settings.pythonPath, ...options.sitePackages];
  for (const path of paths) mountHostFolder(interpreter, path);
  if (settings.home) mountHostFolder(interpreter, settings.home);
  for (const path of settings.writable) {
    mountHostFolder(interpreter, path);
  }
  pyodide.runPython('import sys; sys.path.insert(0, "/deno_wsgi")');
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
  bridge.add_paths(pyodide.toPy(paths));
  if (settings.home) bridge.change_directory(settings.home);
  // Copies: attribute proxies die with the module proxy they came from.
  interpreter.begin = bridge.begin.copy();
  interpreter.resume = bridge.resume.copy();
  interpreter.finish = bridge.finish.copy();
  interpreter.abort = bridge.abort.copy();
  const importModule = bridge.import_module.copy() as PyCallable;
  bridge.destroy();
  for (const module of settings.preload) {
    try {
      await importModule.callPromising(module);
    } catch (error) {
      options.emit(
        "error",
        `preload of module ${module} failed:\n${(error as Error).message}`,
      );
    }
  }
  return interpreter;
}
