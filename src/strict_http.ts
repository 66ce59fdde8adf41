/**
 * `serve()`'s HTTP/1.x parser for plain (non-TLS) connections: Node's
 * `node:http` server (llhttp underneath, as Deno ships it), fed one
 * accepted `Deno.Conn` at a time. Deno's own server (hyper) is faster but
 * lenient where Apache is strict and cannot be told otherwise: it takes
 * bare-LF framing and HTTP/1.1 without `Host`, and closes a connection
 * whose chunk size is invalid without answering. llhttp answers each with
 * 400, as Apache does. TLS connections stay with Deno's server, for
 * HTTP/2.
 *
 * Each connection gets the same shape as Deno's per-connection server
 * (`finished`, `shutdown()`, cut through the abort signal), so the
 * connections' watch (open_connections.ts) is the same for both.
 *
 * @module
 */

import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { Duplex } from "node:stream";
import { Buffer } from "node:buffer";
import { writeAll } from "./frames.ts";
import { log } from "./logging.ts";
import { isStreamed } from "./response_progress.ts";
import { reasonPhrase } from "./responses.ts";
import type {
  ConnectionServer,
  ServeOnConnection,
} from "./open_connections.ts";
import type { FetchHandler } from "./access_log.ts";

/** What the handler is given beside the request. */
export interface StrictHandlerInfo extends Deno.ServeHandlerInfo {
  /** "HTTP/1.0" or "HTTP/1.1": the request line's version. */
  protocol: string;
}

/** How long a closed connection waits for the client's end before it is cut. */
const LINGER_MS = 2000;
/** Bytes read from a connection at once. */
const READ_SIZE = 65536;
/**
 * The largest request head (request line and headers) llhttp takes. A
 * request line over 8,190 bytes gets 414 from the dispatcher, as in
 * Apache; this only bounds what is held.
 */
const MAX_HEAD = 65536;

/** Requests that carry no body, whatever their headers say. */
const BODYLESS = new Set(["GET", "HEAD"]);

/** The status a parser error gets: llhttp's code, as Node maps it. */
function statusOf(code: string | undefined): number {
  if (code === "HPE_HEADER_OVERFLOW") return 431;
  if (code === "HPE_CHUNK_EXTENSIONS_OVERFLOW") return 413;
  return 400;
}

/**
 * A `Deno.Conn` as the Node stream node:http reads and writes. Reads run
 * while the parser wants more; writes are awaited one at a time, so a slow
 * client holds back the response (backpressure), not memory.
 */
class ConnectionStream extends Duplex {
  readonly conn: Deno.Conn;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: string;
  readonly localAddress: string;
  readonly localPort: number;
  /** The handler of this connection's requests. */
  readonly handler: FetchHandler<StrictHandlerInfo>;
  readonly finished: Promise<void>;
  #reading = false;
  #buffer = new Uint8Array(READ_SIZE);
  #closing = false;

  constructor(conn: Deno.Conn, handler: FetchHandler<StrictHandlerInfo>) {
    super({ allowHalfOpen: true });
    this.conn = conn;
    this.handler = handler;
    const remote = conn.remoteAddr as Deno.NetAddr;
    const local = conn.localAddr as Deno.NetAddr;
    this.remoteAddress = remote.hostname;
    this.remotePort = remote.port;
    this.remoteFamily = remote.hostname.includes(":") ? "IPv6" : "IPv4";
    this.localAddress = local.hostname;
    this.localPort = local.port;
    this.finished = new Promise((resolve) => this.once("close", resolve));
    this.on("error", () => {});
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    this.#pump().finally(() => this.#reading = false);
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const count = await this.conn.read(this.#buffer);
        if (count === null) {
          this.push(null);
          // The client has ended: once ours is ended too, close.
          if (this.#closing) this.destroy();
          return;
        }
        if (!this.push(Buffer.from(this.#buffer.slice(0, count).buffer))) {
          return;
        }
      }
    } catch (error) {
      this.destroy(error as Error);
    }
  }

  override _write(
    chunk: Uint8Array,
    _encoding: string,
    callback: (error?: Error | null) => void,
  ): void {
    writeAll(this.conn, chunk).then(() => callback(), callback);
  }

  override _writev(
    chunks: { chunk: Uint8Array }[],
    callback: (error?: Error | null) => void,
  ): void {
    let length = 0;
    for (const { chunk } of chunks) length += chunk.byteLength;
    if (length > READ_SIZE) {
      // A large body after its head: written as it is, not copied to join it.
      (async () => {
        for (const { chunk } of chunks) await writeAll(this.conn, chunk);
      })().then(() => callback(), callback);
      return;
    }
    const joined = new Uint8Array(length);
    let offset = 0;
    for (const { chunk } of chunks) {
      joined.set(chunk, offset);
      offset += chunk.byteLength;
    }
    writeAll(this.conn, joined).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      this.conn.closeWrite();
    } catch {
      // already closed
    }
    callback();
  }

  override _destroy(
    error: Error | null,
    callback: (error?: Error | null) => void,
  ): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
    callback(error);
  }

  /**
   * Ends the connection once its responses are sent: our side first, then
   * the socket when the client has ended too, or after LINGER_MS. Closing
   * both at once could reset the connection and lose the last response.
   */
  close(): void {
    if (this.#closing || this.destroyed) return;
    this.#closing = true;
    this.end();
    this.resume();
    if (this.readableEnded) this.destroy();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    Deno.unrefTimer(timer);
    this.once("close", () => clearTimeout(timer));
  }

  // node:http calls these on sockets; the connections' watch owns timing.
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
}

/** The request's URL: its Host, or (HTTP/1.0 without one) the address it came to. */
function urlOf(message: IncomingMessage, socket: ConnectionStream): string {
  const target = message.url ?? "/";
  if (!target.startsWith("/")) {
    // Absolute form (a proxy's request): the URL parser checks it.
    if (/^https?:\/\//i.test(target)) return new URL(target).href;
    throw new TypeError(`a request target of this form: ${target}`);
  }
  const host = message.headers.host ??
    (socket.localAddress.includes(":")
      ? `[${socket.localAddress}]:${socket.localPort}`
      : `${socket.localAddress}:${socket.localPort}`);
  return `http://${host}${target}`;
}

/** The body node:http reads, as a web stream that pauses it when full. */
function bodyOf(message: IncomingMessage): ReadableStream<Uint8Array> {
  let finished = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      message.on("data", (chunk: Buffer) => {
        controller.enqueue(
          new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
        );
        if ((controller.desiredSize ?? 0) <= 0) message.pause();
      });
      message.once("end", () => {
        finished = true;
        controller.close();
      });
      message.once("close", () => {
        if (finished) return;
        finished = true;
        controller.error(new Error("the client broke off the request body"));
      });
    },
    pull() {
      message.resume();
    },
    cancel() {
      finished = true;
      message.resume();
    },
  }, { highWaterMark: READ_SIZE, size: (chunk) => chunk.byteLength });
}

function requestOf(
  message: IncomingMessage,
  socket: ConnectionStream,
): Request {
  // Pairs, not a Headers built by append(): half the cost (4 against 8-10
  // µs for a request of wrk's, measured 2026-12-03), repeats kept apart.
  const headers: [string, string][] = [];
  const raw = message.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    headers.push([raw[index], raw[index + 1]]);
  }
  const method = message.method ?? "GET";
  const framed = message.headers["content-length"] !== undefined ||
    message.headers["transfer-encoding"] !== undefined;
  const hasBody = framed && !BODYLESS.has(method);
  return new Request(urlOf(message, socket), {
    method,
    headers,
    body: hasBody ? bodyOf(message) : undefined,
    // @ts-ignore: Deno's RequestInit takes duplex for a streamed body.
    duplex: hasBody ? "half" : undefined,
  });
}

function plainAnswer(response: ServerResponse, status: number): void {
  response.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    connection: "close",
  });
  response.end(`${reasonPhrase(status)}\n`);
}

/** Writes a web Response through node:http: whole bodies at once, streams chunk by chunk. */
async function send(
  message: IncomingMessage,
  answer: ServerResponse,
  response: Response,
): Promise<void> {
  const headers: string[] = [];
  response.headers.forEach((value, name) => headers.push(name, value));
  const status = response.status;
  // `response.body` is read only for a stream: reading it turns a text or
  // bytes body into one (response_progress.ts).
  const whole = isStreamed(response) === false;
  if (message.method === "HEAD" || status === 204 || status === 304) {
    if (!whole) response.body?.cancel().catch(() => {});
    answer.writeHead(status, response.statusText || undefined, headers);
    answer.end();
    return;
  }
  if (whole) {
    // Text, bytes or none: one write, with its Content-Length.
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (!response.headers.has("content-length")) {
      headers.push("content-length", String(bytes.byteLength));
    }
    answer.writeHead(status, response.statusText || undefined, headers);
    answer.end(bytes);
    return;
  }
  answer.writeHead(status, response.statusText || undefined, headers);
  answer.flushHeaders();
  const reader = response.body!.getReader();
  const gone = new Promise<"gone">((resolve) =>
    answer.once("close", () => resolve("gone"))
  );
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), gone]);
      if (next === "gone") {
        reader.cancel().catch(() => {});
        return;
      }
      if (next.done) break;
      if (!answer.write(next.value)) {
        const drained = new Promise<"drained">((resolve) =>
          answer.once("drain", () => resolve("drained"))
        );
        if (await Promise.race([drained, gone]) === "gone") {
          reader.cancel().catch(() => {});
          return;
        }
      }
    }
    answer.end();
  } catch (error) {
    // The app's stream failed mid-body: the client must not take a
    // truncated body for a whole one, so the connection is cut.
    log(
      "warn",
      `a response body failed while being sent: ${
        (error as Error)?.message ?? error
      }`,
    );
    answer.destroy();
  }
}

async function serveOne(
  message: IncomingMessage,
  answer: ServerResponse,
  onError: (error: unknown) => Response | Promise<Response>,
): Promise<void> {
  const socket = message.socket as unknown as ConnectionStream;
  answer.on("error", () => {});
  const completed = new Promise<void>((resolve) =>
    answer.once("close", () => resolve())
  );
  let request: Request;
  try {
    request = requestOf(message, socket);
  } catch (error) {
    log(
      "info",
      `refused a request from ${socket.remoteAddress}: ${
        (error as Error).message
      }`,
    );
    plainAnswer(answer, 400);
    return;
  }
  const info: StrictHandlerInfo = {
    remoteAddr: {
      transport: "tcp",
      hostname: socket.remoteAddress,
      port: socket.remotePort,
    },
    completed,
    protocol: `HTTP/${message.httpVersion}`,
  };
  let response: Response;
  try {
    response = await socket.handler(request, info);
  } catch (error) {
    response = await onError(error);
  }
  if (answer.destroyed || socket.destroyed) {
    response.body?.cancel().catch(() => {});
    return;
  }
  await send(message, answer, response);
}

/**
 * The per-connection server of one `serve()`: node:http with Apache's
 * strictness (a Host for HTTP/1.1, CRLF framing, valid chunk sizes), its
 * own timers off (the connections' watch has them).
 */
export function strictHttp(): ServeOnConnection {
  let onError: (error: unknown) => Response | Promise<Response> = () =>
    new Response("Internal Server Error", { status: 500 });
  const server = createServer({
    requireHostHeader: true,
    maxHeaderSize: MAX_HEAD,
    keepAliveTimeout: 0,
    requestTimeout: 0,
    headersTimeout: 0,
    insecureHTTPParser: false,
  }, (message, answer) => {
    serveOne(message, answer, onError).catch((error) => {
      log(
        "error",
        `unhandled error while answering: ${(error as Error)?.stack ?? error}`,
      );
      answer.destroy();
    });
  });
  server.timeout = 0;
  // node:http closes a connection after each response unless its server
  // is listening; this one is fed connections instead of listening.
  Object.defineProperty(server, "listening", { get: () => true });
  server.on("clientError", (error: Error & { code?: string }, socket) => {
    const stream = socket as unknown as ConnectionStream;
    if (!error.code?.startsWith("HPE_")) {
      // The client reset or broke off the connection: nothing to answer.
      stream.destroy();
      return;
    }
    log(
      "info",
      `refused a malformed request from ${stream.remoteAddress}: ${error.message} (${error.code})`,
    );
    const pending = (stream as unknown as {
      _httpMessage?: ServerResponse;
    })._httpMessage;
    if (stream.writable && (!pending || !pending.headersSent)) {
      const status = statusOf(error.code);
      const text = reasonPhrase(status);
      stream.write(
        `HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${
          text.length + 1
        }\r\n\r\n${text}\n`,
      );
      stream.close();
    } else {
      stream.destroy();
    }
  });
  return (conn, signal, handler, errorHandler): ConnectionServer => {
    onError = errorHandler;
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // not a TCP connection
    }
    const stream = new ConnectionStream(
      conn,
      handler as FetchHandler<StrictHandlerInfo>,
    );
    signal.addEventListener("abort", () => stream.destroy(), { once: true });
    server.emit("connection", stream);
    return {
      finished: stream.finished,
      shutdown() {
        stream.close();
        return stream.finished;
      },
    };
  };
}
