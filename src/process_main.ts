/**
 * Entry point of a pool worker that is a child process (`isolation:
 * "process"`). Python runs in a Web Worker inside this process, exactly as
 * in a thread worker. With the server's two Unix sockets (channels.ts),
 * the Web Worker reads and writes its requests on one of them itself, and
 * this main thread keeps the other, for what must reach the worker while
 * Python is busy: the interrupt (KeyboardInterrupt, through the interrupt
 * flag), taking back a pipelined request, and the server going away (the
 * socket ends: exit, which also ends a Web Worker stuck in a loop). With
 * the pipes (stdin and stdout) instead, this thread relays everything.
 *
 * @module
 */

import { FrameWriter, readFrames, readFramesFrom, writeAll } from "./frames.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { cancelPipelined, createFlags } from "./protocol.ts";

/** The interrupt flag, then the fates of pipelined requests. */
const interrupt = createFlags();
const worker = new Worker(new URL("./worker_main.ts", import.meta.url), {
  type: "module",
  name: "wsgi-process",
});

// The server's sockets for this worker (see channels.ts): the control
// socket, then the requests'. Without them, stdin and stdout carry the frames.
const [controlPath, requestPath] = Deno.args;
const control = controlPath === undefined
  ? undefined
  : await Deno.connect({ transport: "unix", path: controlPath });
const stdout = control ? undefined : Deno.stdout.writable.getWriter();
// Frames go out in order without blocking this thread; if the server is
// gone there is nothing to tell it, and the input's end makes us exit.
const output = new FrameWriter((piece) =>
  control ? writeAll(control, piece) : stdout!.write(piece)
);
function send(message: FromWorker | { t: "exit"; reason: string }): void {
  output.send(message);
}

async function exit(code: number, reason: string): Promise<never> {
  send({ t: "exit", reason });
  await output.flushed;
  Deno.exit(code);
}

worker.onmessage = (event: MessageEvent<FromWorker>) => send(event.data);
worker.onerror = (event: ErrorEvent) => {
  event.preventDefault();
  exit(70, `the worker crashed: ${event.message}`);
};
worker.onmessageerror = () => exit(70, "a message could not be read");

// The terminal's Ctrl-C reaches the whole process group: the server decides
// when its workers stop (after in-flight requests), so ignore it here.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {});
}

const input = control
  ? readFramesFrom(control)
  : readFrames(Deno.stdin.readable);
for await (const frame of input) {
  const message = frame as ToWorker | { t: "interrupt" };
  if (message.t === "interrupt") {
    const flag = new Int32Array(interrupt);
    Atomics.store(flag, 0, 2);
    Atomics.notify(flag, 0);
    continue;
  }
  if (message.t === "cancel") {
    send({
      t: "cancelled",
      id: message.id,
      ok: cancelPipelined(interrupt, message.id),
    });
    continue;
  }
  if (message.t === "init") {
    message.interrupt = interrupt;
    message.socket = requestPath;
  }
  worker.postMessage(message);
}
// The input ended: the server stopped or died. Exiting also ends a Web Worker
// stuck in a loop, which terminate() could not.
Deno.exit(0);
