/**
 * Pyodide interpreters and the WSGI scripts loaded into them; the requests
 * run in them are request_calls.ts. This code runs wherever Python runs: in
 * a pool's Web Worker, or in the server's own isolate for embedded mode.
 *
 * @module
 */

import type { PyProxy } from "npm:pyodide@314.0.7/ffi";
import type { MountSpec } from "./config.ts";
import type { LogLevel } from "./logging.ts";
import type {
  BodySource,
  InterpreterSettings,
  ResponseHead,
} from "./protocol.ts";
import { readPythonModules, sitePackagesOf } from "./python_files.ts";
import { mountHostFolder, WriteGuards } from "./host_folders.ts";
import {
  type Interpreter,
  type PyCallable,
  startInterpreter,
} from "./interpreter_startup.ts";
import { Waiters } from "./waiters.ts";
import { snapshotFileFor } from "./snapshot_key.ts";
import {
  ApplicationError,
  applicationFailure,
  type Emit,
  type LoadedApplication,
  RequestCalls,
} from "./request_calls.ts";

const GLOBAL_GROUP = "%{GLOBAL}";

/** Bytes as MiB for the log. */
function mebibytes(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Which interpreter of a worker runs a mount's script. */
function interpreterKey(spec: MountSpec): string {
  // "" means the mount's own interpreter, like mod_wsgi's %{RESOURCE}.
  return spec.applicationGroup === GLOBAL_GROUP
    ? ""
    : spec.applicationGroup === ""
    ? `mount:${spec.id}`
    : `group:${spec.applicationGroup}`;
}

/**
 * The interpreters of one worker, one per application group, and the
 * scripts loaded into them; the requests are handed to RequestCalls.
 */
export class InterpreterHost {
  readonly #settings: InterpreterSettings;
  readonly #emit: Emit;
  readonly #interpreters = new Map<string, Promise<Interpreter>>();
  readonly #applications = new Map<string, Promise<LoadedApplication>>();
  readonly #failures = new Map<string, { at: number; message: string }>();
  #interruptBuffer?: Int32Array;
  readonly #privateFlag = new Int32Array(new SharedArrayBuffer(4));
  /** Requests in flight. */
  readonly #calls: RequestCalls;
  /** The mount whose code runs (or ran last): tags what Python prints. */
  #printing?: string;
  #sitePackages: string[];
  #sources?: Promise<Map<string, string>>;
  readonly #writeGuards: WriteGuards;
  /** Where requests wait in groups with threads. */
  readonly #waiters = new Waiters();
  /** Close each interpreter's sockets. */
  readonly #socketClosers: (() => void)[] = [];
  /** The interpreters that have started, whose heaps count (memoryLimit). */
  readonly #started = new Set<Interpreter>();
  /** A MemoryError was raised in some interpreter. */
  #outOfMemory = false;
  /** recycleReason() has said so already. */
  #recycleAsked = false;
  /** Snapshot files by interpreter, once their inputs have been walked. */
  readonly #snapshots = new Map<string, { path?: string }>();
  /** The mounts known at start, whose scripts may go into snapshots. */
  readonly #mounts: MountSpec[];

  /**
   * `mounts`: the scripts this worker will load, so that with
   * `snapshot.script` each interpreter's snapshot can hold them. `lend`:
   * see RequestCalls.
   */
  constructor(
    settings: InterpreterSettings,
    emit: Emit,
    options: { mounts?: MountSpec[]; lend?: boolean } = {},
  ) {
    this.#settings = settings;
    this.#emit = emit;
    this.#mounts = options.mounts ?? [];
    this.#sitePackages = settings.pythonHome
      ? sitePackagesOf(settings.pythonHome)
      : [];
    this.#writeGuards = new WriteGuards(settings, emit);
    this.#calls = new RequestCalls(emit, (mount) => this.#printing = mount, {
      lend: options.lend,
    });
  }

  /** Lets another thread raise KeyboardInterrupt in running Python. */
  setInterruptBuffer(buffer: Int32Array): void {
    this.#interruptBuffer = buffer;
  }

  #interpreter(spec: MountSpec): Promise<Interpreter> {
    const key = interpreterKey(spec);
    let interpreter = this.#interpreters.get(key);
    if (!interpreter) {
      const scripts = this.#settings.snapshot?.script
        ? this.#mounts.filter((mount) => interpreterKey(mount) === key)
          .map(({ scriptPath, callable, pythonPath }) => ({
            scriptPath,
            callable,
            pythonPath,
          }))
        : [];
      // Walking pythonPath once serves every interpreter of the worker
      // that imports the same scripts (none, without snapshot.script).
      const walked = JSON.stringify(scripts);
      interpreter = startInterpreter(this.#settings, {
        sitePackages: this.#sitePackages,
        sources: () => this.#sources ??= readPythonModules(),
        print: (level, line) => this.#emit(level, line, this.#printing),
        emit: this.#emit,
        interruptBuffer: this.#interruptBuffer,
        sleepFlag: () => this.#interruptBuffer ?? this.#privateFlag,
        writeGuards: this.#writeGuards,
        waiter: this.#waiters.create,
        socketClosers: this.#socketClosers,
        memoryError: () => this.#outOfMemory = true,
        snapshotFile: (sources, paths) => {
          let file = this.#snapshots.get(walked);
          if (!file) {
            file = {
              path: snapshotFileFor(
                this.#settings,
                { sources, paths, scripts },
                this.#emit,
              ),
            };
            this.#snapshots.set(walked, file);
          }
          return file.path;
        },
        scripts,
      });
      this.#interpreters.set(key, interpreter);
      interpreter.then((started) => this.#started.add(started), () => {});
    }
    return interpreter;
  }

  /**
   * Starts the worker's main interpreter, which saves a snapshot when
   * snapshots are on and none is there yet. Returns the snapshot's path,
   * and whether the `%{GLOBAL}` mounts' scripts are in it.
   */
  async prepare(): Promise<{ path?: string; scripted: boolean }> {
    const main = await this.#interpreter(
      { applicationGroup: GLOBAL_GROUP } as MountSpec,
    );
    return { path: main.snapshot, scripted: main.scripted === true };
  }

  /**
   * Loads a mount's script into its application group's interpreter. A
   * script that failed is tried again on a later request, at most once a
   * second, so a fixed file comes back without a restart storm.
   */
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
      throw applicationFailure(
        this.#emit,
        `Could not start a Python interpreter for ${spec.scriptPath}`,
        error,
        { mount: spec.prefix, loading: true },
      );
    }
    const pyodide = interpreter.pyodide;
    const scriptFolder = spec.scriptPath.slice(
      0,
      spec.scriptPath.lastIndexOf("/"),
    ) || "/";
    for (const path of [scriptFolder, ...spec.pythonPath]) {
      mountHostFolder(interpreter, path);
    }
    interpreter.readonly.set(scriptFolder, "the WSGI script's folder");
    for (const path of spec.pythonPath) {
      interpreter.readonly.set(path, "the mount's pythonPath");
    }
    this.#writeGuards.install(interpreter);
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
      throw applicationFailure(
        this.#emit,
        `Failed to load WSGI script ${spec.scriptPath} (callable ${
          JSON.stringify(spec.callable)
        })`,
        error,
        { mount: spec.prefix, loading: true, cause: error },
      );
    } finally {
      bridge.destroy();
    }
  }

  /**
   * Runs request `id` up to its first body chunk. Throws ApplicationError
   * (already logged) when the script failed to load or the app fails
   * before any output.
   */
  async begin(
    spec: MountSpec,
    id: number,
    cgi: string,
    body: BodySource,
  ): Promise<ResponseHead> {
    return this.#calls.begin(await this.load(spec), id, cgi, body);
  }

  /** The next body chunk of request `id`; throws (logged) on failure. */
  next(id: number): Promise<{ chunk?: Uint8Array; done: boolean }> {
    return this.#calls.next(id);
  }

  /** Ends request `id` early (client gone): calls the iterable's close(). */
  close(id: number): Promise<void> {
    return this.#calls.close(id);
  }

  /** Ends request `id` where it waits (RequestCalls.abort). */
  abort(id: number): void {
    this.#calls.abort(id);
  }

  /**
   * The interpreters are discarded (a fatal error, or their worker was
   * replaced): requests suspended in a lock or a sleep are never resumed,
   * and every socket is closed, so that a request abandoned in recv() does
   * not hold its connection open for good.
   */
  halt(): void {
    this.#waiters.dropAll();
    this.#calls.dropAll();
    for (const close of this.#socketClosers) close();
  }

  /** Bytes of WebAssembly memory of the started interpreters (they never shrink). */
  heapBytes(): number {
    let bytes = 0;
    for (const { pyodide } of this.#started) {
      bytes += (pyodide as unknown as { _module: { HEAP8: Int8Array } })
        ._module.HEAP8.length;
    }
    return bytes;
  }

  /**
   * Why this worker should be recycled once its requests are done (a
   * MemoryError was raised, or the heaps passed memoryLimit), the first
   * time it is so; undefined otherwise. Cheap: read after every request.
   */
  recycleReason(): string | undefined {
    if (this.#recycleAsked) return undefined;
    const limit = this.#settings.memoryLimit ?? 0;
    let reason: string | undefined;
    if (this.#outOfMemory) {
      reason = `a request raised MemoryError (heap ${
        mebibytes(this.heapBytes())
      })`;
    } else if (limit > 0) {
      const heap = this.heapBytes();
      if (heap > limit) {
        reason = `its heap of ${mebibytes(heap)} passed memoryLimit (${
          mebibytes(limit)
        })`;
      }
    }
    if (reason) this.#recycleAsked = true;
    return reason;
  }

  /** How many requests are in flight. */
  get inFlight(): number {
    return this.#calls.size;
  }
}
