/**
 * The calls into Python that run one request on a loaded application: up
 * to its first body chunk, each next chunk, its close and its abort; which
 * requests are in flight, and the ApplicationError a failure becomes once
 * its traceback is logged. Setting up the interpreters and loading the
 * scripts is interpreters.ts.
 *
 * @module
 */

import type { PyProxy } from "npm:pyodide@314.0.7/ffi";
import type { MountSpec } from "./config.ts";
import type { LogLevel } from "./logging.ts";
import {
  type BodySource,
  type LentChunk,
  type ResponseHead,
  unpackHead,
} from "./protocol.ts";
import type { Interpreter } from "./interpreter_startup.ts";

/** Receives what Python prints and logs, with the mount it came from. */
export type Emit = (level: LogLevel, message: string, mount?: string) => void;

/** A mount's WSGI application, ready in its interpreter. */
export interface LoadedApplication {
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

/** Logs Python's traceback under `heading`; returns the error to throw. */
export function applicationFailure(
  emit: Emit,
  heading: string,
  error: unknown,
  options: { mount: string; loading: boolean; cause?: unknown },
): ApplicationError {
  const message = `${heading}:\n${(error as Error).message.trimEnd()}`;
  emit("error", message, options.mount);
  return new ApplicationError(message, options.loading, options.cause);
}

/** A copy of Python bytes of its own; lets go of the proxy. */
function copied(bytes: PyProxy): Uint8Array {
  const chunk = lend(bytes);
  try {
    return chunk.read((view) => view.slice());
  } finally {
    chunk.release();
  }
}

/** Python bytes as a LentChunk: a view into the heap, made when read. */
function lend(bytes: PyProxy): LentChunk {
  let held: PyProxy | undefined = bytes;
  return {
    read(use) {
      if (!held) throw new Error("a lent chunk was read after its release");
      const buffer = held.getBuffer("u8");
      try {
        return use(buffer.data as Uint8Array);
      } finally {
        buffer.release();
      }
    },
    release() {
      held?.destroy();
      held = undefined;
    },
  };
}

/** A request between its begin() and its end. */
interface ActiveRequest {
  interpreter: Interpreter;
  mount: MountSpec;
}

/**
 * The requests in flight in one worker's interpreters, by id. Every call
 * is a promising one, so that Python may suspend on a socket, a lock or a
 * sleep; with `threads` above 1 several requests are in flight at once,
 * each suspended where it waits, while one at a time runs.
 */
export class RequestCalls {
  readonly #emit: Emit;
  /** Told the mount whose code is about to run: tags what Python prints. */
  readonly #running: (mount: string) => void;
  /** Large first chunks stay in Python's memory (see LentChunk). */
  readonly #lend: boolean;
  readonly #requests = new Map<number, ActiveRequest>();

  /**
   * `lend`: hand large first chunks out as a LentChunk rather than a copy;
   * only where the Response is built on this thread (embedded mode).
   */
  constructor(
    emit: Emit,
    running: (mount: string) => void,
    options: { lend?: boolean } = {},
  ) {
    this.#emit = emit;
    this.#running = running;
    this.#lend = options.lend ?? false;
  }

  /**
   * Runs request `id` up to its first body chunk. Throws ApplicationError
   * (already logged) when the app fails before any output.
   */
  async begin(
    loaded: LoadedApplication,
    id: number,
    cgi: string,
    body: BodySource,
  ): Promise<ResponseHead> {
    const { spec, interpreter, application } = loaded;
    const source = body.kind === "stream" ? { read: body.read } : undefined;
    const bytes = body.kind === "bytes" ? body.data : undefined;
    this.#requests.set(id, { interpreter, mount: spec });
    this.#running(spec.prefix);
    let result: string | PyProxy;
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
      throw applicationFailure(
        this.#emit,
        `Exception occurred processing WSGI script ${spec.scriptPath}`,
        error,
        { mount: spec.prefix, loading: false, cause: error },
      );
    }
    let head: ResponseHead;
    if (typeof result === "string") {
      head = unpackHead(result, true);
    } else {
      const packed = result.get(0) as string;
      const bytes = result.get(1) as PyProxy;
      result.destroy();
      head = this.#lend
        ? unpackHead(packed, false, undefined, lend(bytes))
        : unpackHead(packed, false, copied(bytes));
    }
    if (head.done) this.#requests.delete(id);
    return head;
  }

  /** The next body chunk of request `id`; throws (logged) on failure. */
  async next(id: number): Promise<{ chunk?: Uint8Array; done: boolean }> {
    const active = this.#requests.get(id);
    if (!active) return { done: true };
    this.#running(active.mount.prefix);
    let result: [Uint8Array | undefined, boolean];
    try {
      result = await active.interpreter.resume.callPromising(id) as [
        Uint8Array | undefined,
        boolean,
      ];
    } catch (error) {
      this.#requests.delete(id);
      throw applicationFailure(
        this.#emit,
        `Exception occurred while streaming the response of WSGI script ${active.mount.scriptPath}`,
        error,
        { mount: active.mount.prefix, loading: false, cause: error },
      );
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

  /** Forgets every request: their interpreters are discarded. */
  dropAll(): void {
    this.#requests.clear();
  }

  /** How many requests are in flight. */
  get size(): number {
    return this.#requests.size;
  }
}
