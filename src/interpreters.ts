/**
 * Pyodide interpreters and the WSGI scripts loaded into them. This code runs
 * wherever Python runs: in a pool's Web Worker, or in the server's own
 * isolate for embedded mode.
 *
 * @module
 */

import { loadPyodide, type PyodideAPI } from "pyodide";
import type { PyProxy } from "pyodide/ffi";
import type { MountSpec } from "./config.ts";
import type { LogLevel } from "./logging.ts";
import {
  type BodySource,
  type InterpreterSettings,
  type ResponseHead,
  unpackHead,
} from "./protocol.ts";
import { type ClientSocket, createConnect, resolves } from "./sockets.ts";
import { readPythonModules, sitePackagesOf } from "./python_files.ts";
import {
  pruneSnapshots,
  readSnapshot,
  RESEED,
  restorePyodide,
  SnapshotError,
  snapshotName,
  writeSnapshot,
} from "./snapshots.ts";

/** Receives what Python prints and logs, with the mount it came from. */
export type Emit = (level: LogLevel, message: string, mount?: string) => void;

const GLOBAL_GROUP = "%{GLOBAL}";

/** What Python's locks and sleeps wait on (python/threads.py). */
function waiter(milliseconds: number) {
  let resolve!: (outcome: number) => void;
  const promise = new Promise<number>((r) => resolve = r);
  let settled = false;
  const timer = milliseconds >= 0
    ? setTimeout(() => grant(0), milliseconds)
    : undefined;
  function grant(outcome: number): boolean {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    resolve(outcome);
    return true;
  }
  return { promise, grant };
}

type PyCallable = PyProxy & ((...args: unknown[]) => unknown) & {
  callPromising(...args: unknown[]): Promise<unknown>;
};

interface Interpreter {
  pyodide: PyodideAPI;
  /** python/files.py: where this interpreter may write. */
  files: PyProxy;
  /** Host folders mapped read-only, with the option that mapped each. */
  readonly: Map<string, string>;
  begin: PyCallable;
  resume: PyCallable;
  finish: PyCallable;
  abort: PyCallable;
  mounted: Set<string>;
}

/** A request between its begin() and its end. */
interface ActiveRequest {
  interpreter: Interpreter;
  mount: MountSpec;
}

interface LoadedApplication {
  spec: MountSpec;
  interpreter: Interpreter;
  application: PyProxy;
}

/** Why a request could not start: the message already went to the log. */
export class ApplicationError extends Error {
  /** True when the script itself failed to load (as opposed to a request). */
  readonly loading: boolean;
  /** True when Pyodide itself failed (abort, wasm trap): the interpreter is done for. */
  readonly fatal: boolean;
  constructor(message: string, loading: boolean, cause?: unknown) {
    super(message);
    this.name = "ApplicationError";
    this.loading = loading;
    this.fatal = (cause as { pyodide_fatal_error?: boolean })
      ?.pyodide_fatal_error === true;
  }
}

/**
 * The interpreters of one worker, one per application group, and the
 * scripts loaded into them. Every call into Python is a promising one, so
 * that Python may suspend on a socket, a lock or a sleep; with `threads`
 * above 1 several requests are in flight at once, each suspended where it
 * waits, while one at a time runs.
 */
export class InterpreterHost {
  readonly #settings: InterpreterSettings;
  readonly #emit: Emit;
  readonly #interpreters = new Map<string, Promise<Interpreter>>();
  readonly #applications = new Map<string, Promise<LoadedApplication>>();
  readonly #failures = new Map<string, { at: number; message: string }>();
  #interruptBuffer?: Int32Array;
  readonly #privateFlag = new Int32Array(new SharedArrayBuffer(4));
  /** Requests in flight, by id. */
  readonly #requests = new Map<number, ActiveRequest>();
  /** The mount whose code runs (or ran last): tags what Python prints. */
  #printing?: string;
  #sitePackages: string[];
  #sources?: Promise<Map<string, string>>;
  /** Whether Deno lets this worker write each writable folder. */
  readonly #writeGrants = new Map<string, boolean>();
  /** The snapshot file this worker's inputs name, when snapshots are on. */
  #snapshotFile?: string;

  constructor(settings: InterpreterSettings, emit: Emit) {
    this.#settings = settings;
    this.#emit = emit;
    this.#sitePackages = settings.pythonHome
      ? sitePackagesOf(settings.pythonHome)
      : [];
  }

  /** Lets another thread raise KeyboardInterrupt in running Python. */
  setInterruptBuffer(buffer: Int32Array): void {
    this.#interruptBuffer = buffer;
  }

  #interpreter(spec: MountSpec): Promise<Interpreter> {
    // "" means the mount's own interpreter, like mod_wsgi's %{RESOURCE}.
    const key = spec.applicationGroup === GLOBAL_GROUP
      ? ""
      : spec.applicationGroup === ""
      ? `mount:${spec.id}`
      : `group:${spec.applicationGroup}`;
    let interpreter = this.#interpreters.get(key);
    if (!interpreter) {
      interpreter = this.#createInterpreter();
      this.#interpreters.set(key, interpreter);
    }
    return interpreter;
  }

  async #createInterpreter(): Promise<Interpreter> {
    const settings = this.#settings;
    this.#sources ??= readPythonModules();
    const sources = await this.#sources;
    const paths = [...settings.pythonPath, ...this.#sitePackages];
    const snapshot = this.#snapshotPath(sources, paths);
    this.#snapshotFile = snapshot;
    const env = { HOME: "/home/pyodide", ...settings.env };
    let pyodide = snapshot ? await this.#restore(snapshot, env) : undefined;
    const restored = pyodide !== undefined;
    pyodide ??= await loadPyodide(
      {
        env,
        ...(snapshot && settings.snapshot?.write
          ? { _makeSnapshot: true }
          : {}),
      } as Parameters<typeof loadPyodide>[0],
    );
    const mounted = new Set<string>();
    const interpreter = {
      pyodide,
      mounted,
      readonly: this.#readonlyFolders(),
    } as Interpreter;
    pyodide.setStdout({
      batched: (line) => this.#emit("info", line, this.#printing),
    });
    pyodide.setStderr({
      batched: (line) => this.#emit("error", line, this.#printing),
    });
    if (this.#interruptBuffer) {
      pyodide.setInterruptBuffer(this.#interruptBuffer);
    }
    // Files and mounts live outside the heap: a restored heap needs them too.
    pyodide.FS.mkdirTree("/deno_wsgi");
    for (const [name, source] of sources) {
      pyodide.FS.writeFile(`/deno_wsgi/${name}.py`, source);
    }
    for (const path of paths) this.#mountHostFolder(interpreter, path);
    if (settings.home) this.#mountHostFolder(interpreter, settings.home);
    for (const path of settings.writable) {
      this.#mountHostFolder(interpreter, path);
    }
    if (restored) {
      pyodide.runPython(RESEED);
    } else {
      pyodide.runPython(
        'import sys\nif "/deno_wsgi" not in sys.path: sys.path.insert(0, "/deno_wsgi")',
      );
      const bridge = pyodide.pyimport("wsgi_bridge");
      bridge.add_paths(pyodide.toPy(paths));
      bridge.destroy();
      if (snapshot) {
        // Preloaded modules belong in the snapshot; without one they are
        // imported last, once the network and the write guards are in.
        await this.#preload(pyodide);
        if (settings.snapshot?.write) this.#saveSnapshot(pyodide, snapshot);
      }
    }
    const sockets = createConnect({ allowNet: settings.allowNet });
    // Our ClientSocket has the shape of Pyodide's (undeclared) Socket type.
    await pyodide.useNodeSockFS({ connect: sockets.connect as never });
    interpreter.files = pyodide.pyimport("files");
    this.#guardWrites(interpreter);
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
      threads.install({ waiter, socketOf });
      bridge.use_threads(threads);
      threads.destroy();
    } else {
      bridge.install_sleep((seconds: number) => this.#sleep(seconds));
    }
    if (settings.home) bridge.change_directory(settings.home);
    // Copies: attribute proxies die with the module proxy they came from.
    interpreter.begin = bridge.begin.copy();
    interpreter.resume = bridge.resume.copy();
    interpreter.finish = bridge.finish.copy();
    interpreter.abort = bridge.abort.copy();
    bridge.destroy();
    // After a restore, only a preload that failed at snapshot time is
    // missing (and is tried, and logged, again).
    if (!snapshot || restored) await this.#preload(pyodide);
    return interpreter;
  }

  /** Imports the group's `preload` modules that are not imported yet. */
  async #preload(pyodide: PyodideAPI): Promise<void> {
    const modules = pyodide.pyimport("sys").modules;
    const missing = this.#settings.preload.filter((name) => !modules.has(name));
    modules.destroy();
    if (missing.length === 0) return;
    const bridge = pyodide.pyimport("wsgi_bridge");
    const importModule = bridge.import_module.copy() as PyCallable;
    bridge.destroy();
    for (const module of missing) {
      try {
        await importModule.callPromising(module);
      } catch (error) {
        this.#emit(
          "error",
          `preload of module ${module} failed:\n${(error as Error).message}`,
        );
      }
    }
    importModule.destroy();
  }

  /** The snapshot file this interpreter's inputs name, if snapshots are on. */
  #snapshotPath(
    sources: Map<string, string>,
    paths: string[],
  ): string | undefined {
    const settings = this.#settings;
    if (!settings.snapshot) return undefined;
    const { pythonHome, home, env, preload } = settings;
    const folders = [...paths, ...(home ? [home] : [])];
    try {
      const name = snapshotName({
        sources,
        folders,
        options: { paths, pythonHome, home, env, preload },
      });
      return `${settings.snapshot.folder}/${name}`;
    } catch (error) {
      this.#emit(
        "warn",
        `snapshots are off for group ${settings.group}: ${
          (error as Error).message
        }`,
      );
      return undefined;
    }
  }

  /** Starts from a snapshot file if a good one is there. */
  async #restore(
    path: string,
    env: Record<string, string>,
  ): Promise<PyodideAPI | undefined> {
    let heap: Uint8Array | undefined;
    try {
      heap = readSnapshot(path);
    } catch (error) {
      this.#emit("warn", `${(error as Error).message}; making a new one`);
      if (error instanceof SnapshotError) {
        try {
          Deno.removeSync(path);
        } catch {
          // another worker removed or replaced it first
        }
      }
      return undefined;
    }
    if (!heap) return undefined;
    try {
      const pyodide = await restorePyodide(heap, { env });
      this.#emit("info", `started from snapshot ${path}`);
      return pyodide;
    } catch (error) {
      this.#emit(
        "warn",
        `snapshot ${path} could not be restored (${
          (error as Error).message
        }); starting without it`,
      );
      return undefined;
    }
  }

  #saveSnapshot(pyodide: PyodideAPI, path: string): void {
    try {
      // deno-lint-ignore no-explicit-any
      const heap = (pyodide as any).makeMemorySnapshot() as Uint8Array;
      writeSnapshot(path, heap);
      pruneSnapshots(this.#settings.snapshot!.folder);
      this.#emit(
        "info",
        `saved interpreter snapshot ${path} (${
          (heap.length / 1048576).toFixed(1)
        } MiB)`,
      );
    } catch (error) {
      this.#emit(
        "warn",
        `no snapshot saved for group ${this.#settings.group}: ${
          (error as Error).message
        }`,
      );
    }
  }

  /**
   * time.sleep() for Python: Pyodide's own spins on the CPU and cannot be
   * interrupted. This one waits on the interrupt flag, so it uses no CPU
   * and a request timeout ends it at once. Returns true when interrupted.
   */
  #sleep(seconds: number): boolean {
    const flag = this.#interruptBuffer ?? this.#privateFlag;
    const result = Atomics.wait(flag, 0, 0, seconds * 1000);
    if (result === "timed-out") return false;
    Atomics.store(flag, 0, 0);
    return true;
  }

  /** The group's read-only host folders, each with the option naming it. */
  #readonlyFolders(): Map<string, string> {
    const settings = this.#settings;
    const folders = new Map<string, string>();
    for (const path of settings.pythonPath) folders.set(path, "pythonPath");
    for (const path of this.#sitePackages) folders.set(path, "pythonHome");
    if (settings.pythonHome) folders.set(settings.pythonHome, "pythonHome");
    if (settings.home) folders.set(settings.home, "home");
    return folders;
  }

  /**
   * (Re)installs python/files.py's rules: writes go to `writable` folders
   * only, and a writable folder that Deno's permissions keep closed names
   * the missing flag instead of failing with a bare EACCES.
   */
  #guardWrites(interpreter: Interpreter): void {
    const { pyodide } = interpreter;
    const missing: Record<string, string> = {};
    for (const folder of this.#settings.writable) {
      if (!this.#writePermitted(folder)) {
        missing[folder] = `--allow-write=${folder}`;
      }
    }
    interpreter.files.install(
      pyodide.toPy(this.#settings.writable),
      pyodide.toPy(Object.fromEntries(interpreter.readonly)),
      pyodide.toPy(missing),
    );
  }

  #writePermitted(folder: string): boolean {
    let granted = this.#writeGrants.get(folder);
    if (granted === undefined) {
      granted = Deno.permissions.querySync({ name: "write", path: folder })
        .state === "granted";
      this.#writeGrants.set(folder, granted);
      if (!granted) {
        this.#emit(
          "error",
          `writable folder ${folder} of group ${this.#settings.group} cannot be written: Deno permission --allow-write=${folder} is missing; Python's writes there raise PermissionError`,
        );
      }
    }
    return granted;
  }

  /** Makes a host folder visible at the same path inside the interpreter. */
  #mountHostFolder(interpreter: Interpreter, path: string): void {
    for (const done of interpreter.mounted) {
      if (path === done || path.startsWith(done + "/")) return;
    }
    const fs = interpreter.pyodide.FS;
    // A mount point must be empty: a folder inside this one that is already
    // mounted comes down first (the new mount shows its files anyway).
    for (const inner of [...interpreter.mounted]) {
      if (!inner.startsWith(path + "/")) continue;
      fs.unmount(inner);
      interpreter.mounted.delete(inner);
      for (
        let dir = inner;
        dir !== path;
        dir = dir.slice(0, dir.lastIndexOf("/"))
      ) {
        try {
          fs.rmdir(dir);
        } catch {
          break; // not empty: something else lives there
        }
      }
    }
    fs.mkdirTree(path);
    interpreter.pyodide.mountNodeFS(path, path);
    interpreter.mounted.add(path);
  }

  /**
   * Loads a mount's script into its application group's interpreter. A
   * script that failed is tried again on a later request, at most once a
   * second, so a fixed file comes back without a restart storm.
   */
  /**
   * Starts the worker's main interpreter, which saves a snapshot when
   * snapshots are on and none is there yet. Returns the snapshot's path.
   */
  async prepare(): Promise<string | undefined> {
    await this.#interpreter({ applicationGroup: GLOBAL_GROUP } as MountSpec);
    return this.#snapshotFile;
  }

  load(spec: MountSpec): Promise<LoadedApplication> {
    let loaded = this.#applications.get(spec.id);
    if (loaded) return loaded;
    const failure = this.#failures.get(spec.id);
    if (failure && Date.now() - failure.at < 1000) {
      this.#emit(
        "error",
        `WSGI script ${spec.scriptPath} failed to load moments ago (see the traceback above); answering 500`,
        spec.prefix,
      );
      return Promise.reject(new ApplicationError(failure.message, true));
    }
    loaded = this.#loadApplication(spec);
    this.#applications.set(spec.id, loaded);
    loaded.catch((error) => {
      this.#applications.delete(spec.id);
      this.#failures.set(spec.id, { at: Date.now(), message: error.message });
    });
    return loaded;
  }

  async #loadApplication(spec: MountSpec): Promise<LoadedApplication> {
    let interpreter: Interpreter;
    try {
      interpreter = await this.#interpreter(spec);
    } catch (error) {
      const message =
        `Could not start a Python interpreter for ${spec.scriptPath}:\n${
          (error as Error).message.trimEnd()
        }`;
      this.#emit("error", message, spec.prefix);
      throw new ApplicationError(message, true);
    }
    const pyodide = interpreter.pyodide;
    const scriptFolder = spec.scriptPath.slice(
      0,
      spec.scriptPath.lastIndexOf("/"),
    ) || "/";
    for (const path of [scriptFolder, ...spec.pythonPath]) {
      this.#mountHostFolder(interpreter, path);
    }
    interpreter.readonly.set(scriptFolder, "the WSGI script's folder");
    for (const path of spec.pythonPath) {
      interpreter.readonly.set(path, "the mount's pythonPath");
    }
    this.#guardWrites(interpreter);
    const bridge = pyodide.pyimport("wsgi_bridge");
    const base = JSON.stringify({
      "wsgi.multiprocess": spec.multiprocess,
      "wsgi.multithread": spec.multithread,
      "mod_wsgi.process_group": spec.group,
      "mod_wsgi.application_group": spec.applicationGroup === GLOBAL_GROUP
        ? ""
        : spec.applicationGroup,
      "mod_wsgi.callable_object": spec.callable,
      "mod_wsgi.script_name": spec.prefix,
      "SCRIPT_FILENAME": spec.scriptPath,
    });
    const emit = (level: LogLevel, message: string) =>
      this.#emit(level, message, spec.prefix);
    try {
      bridge.add_paths(pyodide.toPy(spec.pythonPath));
      this.#printing = spec.prefix;
      const application = await (bridge.Application as PyCallable)
        .callPromising(spec.scriptPath, spec.callable, base, emit) as PyProxy;
      return { spec, interpreter, application };
    } catch (error) {
      const message = `Failed to load WSGI script ${spec.scriptPath} ` +
        `(callable ${JSON.stringify(spec.callable)}):\n${
          (error as Error).message.trimEnd()
        }`;
      this.#emit("error", message, spec.prefix);
      throw new ApplicationError(message, true, error);
    } finally {
      bridge.destroy();
    }
  }

  /**
   * Runs request `id` up to its first body chunk. Throws ApplicationError
   * (already logged) when the app fails before any output.
   */
  async begin(
    spec: MountSpec,
    id: number,
    cgi: string,
    body: BodySource,
  ): Promise<ResponseHead> {
    const { interpreter, application } = await this.load(spec);
    const source = body.kind === "stream" ? { read: body.read } : undefined;
    const bytes = body.kind === "bytes" ? body.data : undefined;
    this.#requests.set(id, { interpreter, mount: spec });
    this.#printing = spec.prefix;
    let result: string | [string, Uint8Array];
    try {
      result = await interpreter.begin.callPromising(
        id,
        application,
        cgi,
        source,
        bytes,
      ) as typeof result;
    } catch (error) {
      this.#requests.delete(id);
      const message =
        `Exception occurred processing WSGI script ${spec.scriptPath}:\n${
          (error as Error).message.trimEnd()
        }`;
      this.#emit("error", message, spec.prefix);
      throw new ApplicationError(message, false, error);
    }
    const head = typeof result === "string"
      ? unpackHead(result, true)
      : unpackHead(result[0], false, result[1]);
    if (head.done) this.#requests.delete(id);
    return head;
  }

  /** The next body chunk of request `id`; throws (logged) on failure. */
  async next(id: number): Promise<{ chunk?: Uint8Array; done: boolean }> {
    const active = this.#requests.get(id);
    if (!active) return { done: true };
    this.#printing = active.mount.prefix;
    let result: [Uint8Array | undefined, boolean];
    try {
      result = await active.interpreter.resume.callPromising(id) as [
        Uint8Array | undefined,
        boolean,
      ];
    } catch (error) {
      this.#requests.delete(id);
      const message =
        `Exception occurred while streaming the response of WSGI script ${active.mount.scriptPath}:\n${
          (error as Error).message.trimEnd()
        }`;
      this.#emit("error", message, active.mount.prefix);
      throw new ApplicationError(message, false, error);
    }
    if (result[1]) this.#requests.delete(id);
    return { chunk: result[0] ?? undefined, done: result[1] };
  }

  /** Ends request `id` early (client gone): calls the iterable's close(). */
  async close(id: number): Promise<void> {
    const active = this.#requests.get(id);
    this.#requests.delete(id);
    if (!active) return;
    try {
      await active.interpreter.finish.callPromising(id);
    } catch (error) {
      this.#emit(
        "error",
        `Exception while closing the response iterable:\n${
          (error as Error).message
        }`,
        active.mount.prefix,
      );
    }
  }

  /**
   * Ends request `id` where it waits (a socket, a lock, a sleep) with
   * KeyboardInterrupt, for requestTimeout in a group with threads. A
   * request busy on the CPU is not waiting, and is not reached by this.
   */
  abort(id: number): void {
    const active = this.#requests.get(id);
    if (!active) return;
    try {
      active.interpreter.abort(id);
    } catch (error) {
      this.#emit(
        "error",
        `could not abort a request: ${(error as Error).message}`,
        active.mount.prefix,
      );
    }
  }

  /** How many requests are in flight. */
  get inFlight(): number {
    return this.#requests.size;
  }
}
