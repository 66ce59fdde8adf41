/**
 * How a ChannelWorker reaches its worker: a Web Worker thread in this process,
 * or a child process (src/process_main.ts) that relays its messages.
 *
 * @module
 */

import { FrameWriter, readFrames, readFramesFrom, writeAll } from "./frames.ts";
import { allowSocket } from "./permissions.ts";
import { log } from "./logging.ts";
import {
  cancelPipelined,
  createFlags,
  type FromWorker,
  type ToWorker,
} from "./protocol.ts";

/** How a ChannelWorker reaches its worker: a thread or a child process. */
export interface Channel {
  send(message: ToWorker, transfer: Transferable[]): void;
  /** Takes back a pipelined request that has not started. */
  cancel(id: number): Promise<boolean>;
  interrupt(): void;
  /** Stops the worker; no more events after this. */
  stop(): void;
  onmessage?: (message: FromWorker) => void;
  /** The worker stopped on its own. */
  onstop?: (reason: string) => void;
}

const WORKER_URL = new URL("./worker_main.ts", import.meta.url);
const PROCESS_URL = new URL("./process_main.ts", import.meta.url);

/** Where a Web Worker's thread shows in /proc (Linux). */
function threadCpuMs(tid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime, fields 14 and 15 of stat, in clock ticks (1/100 s).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined; // the thread is gone (or this is not Linux)
  }
}

/**
 * A Web Worker in the server's process. terminate() cannot stop one that
 * is busy in a loop (Deno 2.9), so after stop() the thread is watched, and
 * one that keeps burning CPU is reported through onStuck.
 */
export class ThreadChannel implements Channel {
  onmessage?: (message: FromWorker) => void;
  onstop?: (reason: string) => void;
  onStuck?: (cpuMsPerSecond: number) => void;
  readonly #worker: Worker;
  /** The interrupt flag, then the fates of pipelined requests. */
  readonly #flag = createFlags();
  #tid?: number;
  #busy = false;

  constructor(group: string, permissions?: Deno.PermissionOptions) {
    this.#worker = new Worker(WORKER_URL, {
      type: "module",
      name: `wsgi:${group}`,
      ...(permissions ? { deno: { permissions } } : {}),
    } as WorkerOptions);
    this.#worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.t === "thread") this.#tid = message.tid;
      this.onmessage?.(message);
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.onstop?.(`the worker crashed: ${event.message}`);
    };
    this.#worker.onmessageerror = () =>
      this.onstop?.("a message could not be read");
  }

  send(message: ToWorker, transfer: Transferable[]): void {
    if (message.t === "init") message.interrupt = this.#flag;
    if (message.t === "begin") this.#busy = true;
    this.#worker.postMessage(message, transfer);
  }

  cancel(id: number): Promise<boolean> {
    return Promise.resolve(cancelPipelined(this.#flag, id));
  }

  /** Marks the end of a request, so stop() knows whether to watch. */
  idle(): void {
    this.#busy = false;
  }

  interrupt(): void {
    const flag = new Int32Array(this.#flag);
    Atomics.store(flag, 0, 2);
    // Wakes a time.sleep() waiting on the same flag (see interpreter_startup.ts).
    Atomics.notify(flag, 0);
  }

  stop(): void {
    this.onmessage = undefined;
    this.onstop = undefined;
    // Wakes a sleep (Atomics.wait), which terminate() alone would not end.
    this.interrupt();
    this.#worker.terminate();
    if (this.#busy && this.#tid !== undefined) this.#watch(this.#tid);
  }

  #watch(tid: number): void {
    // A terminated thread ends within milliseconds; one still there after
    // a second and still using CPU is stuck. It is looked at for a few
    // seconds, since on a busy machine a spinning thread may get only a
    // small share of a core in any one of them.
    let checks = 5;
    const measure = (start: number | undefined) => {
      const timer = setTimeout(() => {
        const now = threadCpuMs(tid);
        if (now === undefined) return;
        const used = start === undefined ? 0 : now - start;
        if (used > STUCK_CPU_MS) this.onStuck?.(used);
        else if (checks-- > 0) measure(now);
      }, 1000);
      Deno.unrefTimer(timer);
    };
    measure(undefined);
  }
}

/** CPU per second past which a terminated thread counts as stuck. */
const STUCK_CPU_MS = 100;

/** Messages for the worker process's main thread, not for Python's thread. */
const CONTROL = new Set<ToWorker["t"]>(["init", "interrupt", "cancel"]);

/**
 * A child process (src/process_main.ts) that runs the Web Worker. Over the
 * two Unix sockets (channelSockets), requests go to the Web Worker and
 * the rest to the process's main thread; over stdin and stdout, the main
 * thread relays everything. Stopping it ends Python wherever it is stuck,
 * and gives its memory back to the system.
 */
export class ProcessChannel implements Channel {
  onmessage?: (message: FromWorker) => void;
  onstop?: (reason: string) => void;
  readonly #child: Deno.ChildProcess;
  /** Frames for the main thread go out through this, in order. */
  readonly #control: FrameWriter;
  /** Frames for the Web Worker, in order (the same writer as #control over pipes). */
  readonly #requests: FrameWriter;
  readonly #close: () => void;
  #exitReason?: string;
  #stopped = false;
  readonly #cancels = new Map<number, (ok: boolean) => void>();

  constructor(group: string, permissions: string[]) {
    const sockets = channelSockets();
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        ...(sockets
          ? allowSocket(
            allowSocket(permissions, sockets.control.path),
            sockets.requests.path,
          )
          : permissions),
        PROCESS_URL.href,
        ...(sockets ? [sockets.control.path, sockets.requests.path] : []),
      ],
      stdin: sockets ? "null" : "piped",
      stdout: sockets ? "null" : "piped",
      stderr: "piped",
    }).spawn();
    if (sockets) {
      const control = sockets.control.accept();
      const requests = sockets.requests.accept();
      this.#control = new FrameWriter(async (piece) =>
        writeAll(await control, piece)
      );
      this.#requests = new FrameWriter(async (piece) =>
        writeAll(await requests, piece)
      );
      this.#close = () => {
        sockets.close();
        for (const connection of [control, requests]) {
          connection.then((conn) => conn.close()).catch(() => {});
        }
      };
      // Once both are connected, or the process is gone, nothing is left in /tmp.
      Promise.allSettled([control, requests]).then(() => sockets.close());
      this.#child.status.then(() => sockets.close());
      this.#readMessages(control.then((conn) => readFramesFrom(conn)));
      this.#readMessages(requests.then((conn) => readFramesFrom(conn)));
    } else {
      const input = this.#child.stdin.getWriter();
      this.#control = this.#requests = new FrameWriter((piece) =>
        input.write(piece)
      );
      this.#close = () => input.close().catch(() => {});
      this.#readMessages(Promise.resolve(readFrames(this.#child.stdout)));
    }
    this.#readErrors(group);
    this.#child.status.then((status) => {
      if (this.#stopped) return;
      const how = status.signal
        ? `was killed by ${status.signal}`
        : `exited with code ${status.code}`;
      this.onstop?.(
        this.#exitReason ?? `the worker process ${how}`,
      );
    });
  }

  /** The child's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  async #readMessages(from: Promise<AsyncIterable<unknown>>): Promise<void> {
    try {
      for await (const frame of await from) {
        const message = frame as FromWorker;
        if (message.t === "exit") this.#exitReason = message.reason;
        else if (message.t === "cancelled") {
          this.#cancels.get(message.id)?.(message.ok);
          this.#cancels.delete(message.id);
        } else this.onmessage?.(message);
      }
    } catch {
      // The socket or pipe broke: the exit status tells what happened.
    }
  }

  async #readErrors(group: string): Promise<void> {
    // What Pyodide or Deno print outside the protocol (fatal errors, panics).
    try {
      let pending = "";
      for await (
        const text of this.#child.stderr.pipeThrough(new TextDecoderStream())
      ) {
        pending += text;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) {
          if (line.trim()) log("error", line, { group });
        }
      }
      if (pending.trim()) log("error", pending, { group });
    } catch {
      // The pipe broke with the process: nothing more to read.
    }
  }

  send(message: ToWorker, _transfer: Transferable[]): void {
    if (this.#stopped) return;
    const to = CONTROL.has(message.t) ? this.#control : this.#requests;
    to.send(message);
  }

  interrupt(): void {
    this.send({ t: "interrupt" }, []);
  }

  /** The child's main thread swaps the word; it answers with "cancelled". */
  cancel(id: number): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.#cancels.set(id, resolve);
      this.send({ t: "cancel", id }, []);
    });
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const resolve of this.#cancels.values()) resolve(false);
    this.#cancels.clear();
    this.onmessage = undefined;
    this.onstop = undefined;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    this.#close();
  }

  /** The child's resident memory, from /proc (Linux). */
  rss(): number | undefined {
    try {
      const status = Deno.readTextFileSync(`/proc/${this.#child.pid}/status`);
      const kb = Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1]);
      return Number.isFinite(kb) ? kb * 1024 : undefined;
    } catch {
      return undefined;
    }
  }
}

/** One of a worker process's private sockets, until the worker has connected. */
interface ChannelSocket {
  path: string;
  /** The worker's connection; the socket is gone once it is made. */
  accept(): Promise<Deno.Conn>;
}

/** A worker process's two sockets: its main thread's, and its requests'. */
interface ChannelSockets {
  control: ChannelSocket;
  requests: ChannelSocket;
  /** Closes both listeners and removes their folder; safe to call twice. */
  close(): void;
}

/**
 * Two Unix sockets in a private folder (mode 0700) for one worker process:
 * its reads and writes go through the event loop, where the pipes of the
 * process's stdin and stdout take a thread of Deno's blocking pool for
 * each (measured: about 90 µs per hello-world request in the worker
 * process alone). The requests' socket is the Web Worker's own, so that
 * the process's main thread relays nothing on a request's way (that relay
 * cost 92 µs of CPU per hello-world request, measured 2026-12-03).
 * Undefined, and the pipes serve, where the server may not make them (no
 * read and write permission in /tmp, no `--allow-net` that covers a Unix
 * socket, or Windows).
 */
function channelSockets(): ChannelSockets | undefined {
  if (Deno.build.os === "windows") return undefined;
  // Asked first, so that a terminal never sees a permission prompt.
  const wanted: Deno.PermissionDescriptor[] = [
    { name: "read", path: "/tmp" },
    { name: "write", path: "/tmp" },
    // Deno asks net access for a Unix socket, as "unix:PATH".
    { name: "net", host: "unix:/tmp/deno-wsgi-channel" },
  ];
  for (const descriptor of wanted) {
    if (Deno.permissions.querySync(descriptor).state !== "granted") {
      return undefined;
    }
  }
  let folder: string | undefined;
  const listeners: Deno.Listener[] = [];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const listener of listeners) {
      try {
        listener.close();
      } catch {
        // already closed
      }
    }
    try {
      if (folder) Deno.removeSync(folder, { recursive: true });
    } catch {
      // already gone
    }
  };
  try {
    folder = Deno.makeTempDirSync({ dir: "/tmp", prefix: "deno-wsgi-" });
    const socket = (name: string): ChannelSocket => {
      const path = `${folder}/${name}`;
      const listener = Deno.listen({ transport: "unix", path });
      listeners.push(listener);
      return {
        path,
        accept: () =>
          listener.accept().finally(() => {
            try {
              listener.close();
            } catch {
              // already closed
            }
          }),
      };
    };
    return { control: socket("control"), requests: socket("requests"), close };
  } catch {
    close();
    return undefined;
  }
}
