/**
 * `serve()`'s HTTP/1.x server for plain (non-TLS) connections: llhttp, the
 * strict parser of Node's `node:http` as Deno ships it, driven directly on
 * one accepted `Deno.Conn`. Deno's own server (hyper) is faster but lenient
 * where Apache is strict and cannot be told otherwise: it takes bare-LF
 * framing and HTTP/1.1 without `Host`, and closes a connection whose chunk
 * size is invalid without answering. Here each gets 400, as in Apache. TLS
 * connections stay with Deno's server, for HTTP/2.
 *
 * Only the parser is Node's: requests become `Request`s and responses are
 * written here, in order (pipelining), whole bodies in one write with their
 * `Content-Length`, streams chunk by chunk with backpressure. Node's server
 * objects (its sockets, streams and response class) cost about twice the
 * parser behind a worker, measured.
 *
 * Each connection has the shape of Deno's per-connection server
 * (`finished`, `shutdown()`, cut through the abort signal), so the
 * connections' watch (open_connections.ts) is the same for both.
 *
 * @module
 */

// llhttp's binding has no published types; its shape is declared below.
// @ts-ignore: node:_http_common is Node's internal module, as Deno ships it.
import { HTTPParser as NodeParser, methods } from "node:_http_common";
import { writeAll } from "./frames.ts";
import { concatenate } from "./request_body.ts";
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

/** llhttp as `node:_http_common` exposes it (Node's `HTTPParser`). */
interface Parser {
  initialize(
    type: number,
    resource: unknown,
    maxHeaderSize: number,
    lenient: number,
  ): void;
  /** Bytes parsed, or the parse error (with llhttp's `code`). */
  execute(data: Uint8Array): number | ParseError;
  finish(): number | ParseError | undefined;
  close(): void;
  [callback: number]: unknown;
}
type ParseError = Error & { code?: string; reason?: string };
const HTTPParser = NodeParser as {
  new (): Parser;
  REQUEST: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
};
const METHODS = methods as string[];

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
/** A whole body up to this size goes out in the same write as its head. */
const JOIN_LIMIT = 16384;

/** Requests that carry no body, whatever their headers say. */
const BODYLESS = new Set(["GET", "HEAD"]);
const encoder = new TextEncoder();
const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
const CRLF = encoder.encode("\r\n");
const NOT_ASCII = /[\u0080-\uffff]/;

/** The status a parser error gets: llhttp's code, as Node maps it. */
function statusOf(code: string | undefined): number {
  if (code === "HPE_HEADER_OVERFLOW") return 431;
  if (code === "HPE_CHUNK_EXTENSIONS_OVERFLOW") return 413;
  return 400;
}

let dateSecond = -1;
let dateText = "";
/** The Date header's value, formatted once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** A response head's text as bytes: latin-1, as HTTP headers are. */
function latin1(text: string): Uint8Array {
  if (!NOT_ASCII.test(text)) return encoder.encode(text);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** The answer to a refused request: its status, and the connection ends. */
function refusal(status: number): Response {
  return new Response(`${reasonPhrase(status)}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** One request on the connection, from its head to its response's end. */
interface Exchange {
  request?: Request;
  info?: StrictHandlerInfo;
  /** The handler's answer, once called. */
  response?: Promise<Response>;
  /** A status to answer instead of the handler's (a refused request). */
  refusal?: number;
  /** Why it was refused, for the log. */
  reason?: string;
  method: string;
  /** "1.0" or "1.1". */
  version: string;
  keepAlive: boolean;
  expectContinue: boolean;
  /** The body as it arrives, while it does. */
  body?: ReadableStreamDefaultController<Uint8Array>;
  complete: () => void;
}

/** The per-connection server: one parser, a reader and an ordered writer. */
class StrictConnection implements ConnectionServer {
  readonly finished: Promise<void>;
  readonly #conn: Deno.Conn;
  readonly #handler: FetchHandler<StrictHandlerInfo>;
  readonly #onError: (error: unknown) => Response | Promise<Response>;
  readonly #parser = new HTTPParser();
  readonly #remote: Deno.NetAddr;
  readonly #local: Deno.NetAddr;
  readonly #buffer = new Uint8Array(READ_SIZE);
  /** Requests in order; the first is the one being answered. */
  readonly #queue: Exchange[] = [];
  /** Requests parsed by the last execute(), handed to the handler after it. */
  readonly #parsed: Exchange[] = [];
  /** The request whose body is arriving. */
  #current?: Exchange;
  #headers: string[] = [];
  #url = "";
  #writing = false;
  /** No more requests are read: the last one ended the connection. */
  #stopped = false;
  #clientEnded = false;
  #closing = false;
  #closed = false;
  #resumeReading?: () => void;
  #endFinished!: () => void;

  constructor(
    conn: Deno.Conn,
    handler: FetchHandler<StrictHandlerInfo>,
    onError: (error: unknown) => Response | Promise<Response>,
  ) {
    this.#conn = conn;
    this.#handler = handler;
    this.#onError = onError;
    this.#remote = conn.remoteAddr as Deno.NetAddr;
    this.#local = conn.localAddr as Deno.NetAddr;
    this.finished = new Promise((resolve) => this.#endFinished = resolve);
    const parser = this.#parser;
    parser.initialize(
      HTTPParser.REQUEST,
      undefined,
      MAX_HEAD,
      HTTPParser.kLenientNone,
    );
    // Node's binding calls these by index, with `this` the parser.
    parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      this.#headers.push(...headers);
      this.#url += url;
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      major: number,
      minor: number,
      headers: string[] | undefined,
      method: number,
      url: string | undefined,
      _status: unknown,
      _message: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      if (headers === undefined) {
        headers = this.#headers;
        url = this.#url;
      }
      this.#headers = [];
      this.#url = "";
      this.#headersComplete(
        `${major}.${minor}`,
        headers,
        METHODS[method] ?? "GET",
        url ?? "/",
        keepAlive && !upgrade,
      );
      return 0;
    };
    parser[HTTPParser.kOnBody] = (chunk: Uint8Array) => {
      // A Buffer of its own (the binding copies it out of the read buffer),
      // seen as a plain Uint8Array: Pyodide converts no Buffer.
      this.#current?.body?.enqueue(
        new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
      );
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      const current = this.#current;
      this.#current = undefined;
      if (current?.body) {
        current.body.close();
        current.body = undefined;
      }
      if (current && !current.keepAlive) this.#stopped = true;
    };
    this.#read();
  }

  #headersComplete(
    version: string,
    headers: string[],
    method: string,
    target: string,
    keepAlive: boolean,
  ): void {
    let resolve!: () => void;
    const completed = new Promise<void>((done) => resolve = done);
    const exchange: Exchange = {
      method,
      version,
      keepAlive,
      expectContinue: false,
      complete: resolve,
    };
    this.#current = exchange;
    this.#parsed.push(exchange);
    let host: string | undefined;
    let expect: string | undefined;
    let framed = false;
    const pairs: [string, string][] = [];
    for (let index = 0; index < headers.length; index += 2) {
      const name = headers[index];
      const value = headers[index + 1];
      pairs.push([name, value]);
      switch (name.length) {
        case 4:
          if (host === undefined && name.toLowerCase() === "host") {
            host = value;
          }
          break;
        case 6:
          if (name.toLowerCase() === "expect") expect = value;
          break;
        case 14:
        case 17:
          if (/^(content-length|transfer-encoding)$/i.test(name)) {
            framed = true;
          }
      }
    }
    if (version === "1.1" && host === undefined) {
      exchange.refusal = 400;
      exchange.reason = "HTTP/1.1 without a Host header";
      exchange.keepAlive = false;
      return;
    }
    if (expect !== undefined) {
      if (expect.trim().toLowerCase() !== "100-continue") {
        exchange.refusal = 417;
        exchange.reason = `Expect: ${expect}`;
        exchange.keepAlive = false;
        return;
      }
      exchange.expectContinue = version === "1.1";
    }
    let url: string;
    try {
      url = this.#urlOf(target, host);
    } catch (error) {
      exchange.refusal = 400;
      exchange.reason = (error as Error).message;
      exchange.keepAlive = false;
      return;
    }
    const hasBody = framed && !BODYLESS.has(method);
    let body: ReadableStream<Uint8Array> | undefined;
    if (hasBody) {
      body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          exchange.body = controller;
        },
        pull: () => {
          this.#sendContinue(exchange).catch(() => this.#destroy());
          this.#resumeReading?.();
        },
        cancel: () => {
          exchange.body = undefined;
          this.#resumeReading?.();
        },
      }, { highWaterMark: READ_SIZE, size: (chunk) => chunk.byteLength });
    }
    try {
      exchange.request = new Request(url, {
        method,
        headers: pairs,
        body,
        // @ts-ignore: Deno's RequestInit takes duplex for a streamed body.
        duplex: hasBody ? "half" : undefined,
      });
    } catch (error) {
      exchange.refusal = 400;
      exchange.reason = (error as Error).message;
      exchange.keepAlive = false;
      return;
    }
    exchange.info = {
      remoteAddr: this.#remote,
      completed,
      protocol: `HTTP/${version}`,
    };
  }

  /** The request's URL: its Host, or (HTTP/1.0 without one) the address it came to. */
  #urlOf(target: string, host: string | undefined): string {
    if (!target.startsWith("/")) {
      // Absolute form (a proxy's request): the URL parser checks it.
      if (/^https?:\/\//i.test(target)) return new URL(target).href;
      throw new TypeError(`a request target of this form: ${target}`);
    }
    const local = this.#local;
    host ??= local.hostname.includes(":")
      ? `[${local.hostname}]:${local.port}`
      : `${local.hostname}:${local.port}`;
    return `http://${host}${target}`;
  }

  async #read(): Promise<void> {
    const parser = this.#parser;
    try {
      while (!this.#closed) {
        // A body the handler has not taken yet holds back the reading.
        const current = this.#current;
        if (current?.body && (current.body.desiredSize ?? 1) <= 0) {
          await new Promise<void>((resume) => this.#resumeReading = resume);
          this.#resumeReading = undefined;
          continue;
        }
        const count = await this.#conn.read(this.#buffer);
        if (count === null) {
          this.#clientEnded = true;
          const result = this.#stopped ? undefined : parser.finish();
          if (result instanceof Error) this.#refuse(result);
          else this.#truncated();
          this.#dispatch();
          this.#maybeClose();
          return;
        }
        if (this.#stopped) continue; // after the last request: drained
        const result = parser.execute(this.#buffer.subarray(0, count));
        // After an Upgrade request llhttp stops; the request is answered as
        // any other, and the connection then ends (no upgrades here).
        if (result instanceof Error && result.code !== "HPE_PAUSED_UPGRADE") {
          this.#refuse(result);
          this.#dispatch();
          continue;
        }
        this.#dispatch();
      }
    } catch {
      this.#destroy();
    }
  }

  /** The client ended in the middle of a body: the handler's read fails. */
  #truncated(): void {
    const current = this.#current;
    if (current?.body) {
      current.body.error(new Error("the client broke off the request body"));
      current.body = undefined;
    }
  }

  /** A malformed request: answered with its status, then the connection ends. */
  #refuse(error: ParseError): void {
    this.#stopped = true;
    log(
      "info",
      `refused a malformed request from ${this.#remote.hostname}: ${
        error.reason ?? error.message
      } (${error.code})`,
    );
    const status = statusOf(error.code);
    const current = this.#current;
    this.#current = undefined;
    if (current?.body) {
      // Its head was fine, its body is not: the handler's read fails, and
      // unless its answer has begun, the client gets the parser's status.
      current.body.error(new Error(`a malformed request body (${error.code})`));
      current.body = undefined;
    }
    if (
      current !== undefined &&
      (this.#queue.includes(current) || this.#parsed.includes(current))
    ) {
      current.refusal ??= status;
      current.keepAlive = false;
      return;
    }
    this.#parsed.push({
      method: "GET",
      version: "1.1",
      keepAlive: false,
      expectContinue: false,
      refusal: status,
      complete: () => {},
    });
  }

  /** Hands the requests of the last read to the handler, in order. */
  #dispatch(): void {
    if (this.#parsed.length === 0) return;
    for (const exchange of this.#parsed) {
      if (exchange.refusal === undefined) {
        try {
          const answer = this.#handler(exchange.request!, exchange.info!);
          exchange.response = Promise.resolve(answer).catch(this.#onError);
        } catch (error) {
          exchange.response = Promise.resolve(this.#onError(error));
        }
        // An unhandled rejection would end the process; the writer reports.
        exchange.response.catch(() => {});
      } else if (exchange.reason) {
        log(
          "info",
          `refused a request from ${this.#remote.hostname}: ${exchange.reason}`,
        );
      }
      this.#queue.push(exchange);
    }
    this.#parsed.length = 0;
    if (!this.#writing) this.#write();
  }

  /**
   * "100 Continue" for a request that expects it, once it is the first in
   * line: an earlier response may still be going out, and the client
   * sends the body only after the 100.
   */
  async #sendContinue(exchange: Exchange): Promise<void> {
    if (!exchange.expectContinue || this.#queue[0] !== exchange) return;
    exchange.expectContinue = false;
    await writeAll(this.#conn, CONTINUE);
  }

  async #write(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const exchange = this.#queue[0];
        if (exchange.body) await this.#sendContinue(exchange);
        let response: Response | undefined;
        if (exchange.refusal === undefined) response = await exchange.response;
        if (this.#closed) return;
        if (exchange.refusal !== undefined) {
          response?.body?.cancel().catch(() => {});
          exchange.keepAlive = false;
          response = refusal(exchange.refusal);
        }
        if (!await this.#send(exchange, response!)) {
          exchange.complete();
          this.#destroy();
          return;
        }
        exchange.complete();
        this.#queue.shift();
        if (exchange.body) {
          // Answered without reading all of its body: the rest is read and
          // dropped, so that the next request can be read (as node:http).
          exchange.body = undefined;
          this.#resumeReading?.();
        }
        if (!exchange.keepAlive) {
          this.#stopped = true;
          this.#drop();
          this.#writing = false;
          this.#close();
          return;
        }
      }
    } catch {
      this.#destroy();
    } finally {
      this.#writing = false;
    }
    this.#maybeClose();
  }

  /** Writes a response; false when its body failed midway (the connection must be cut). */
  async #send(exchange: Exchange, response: Response): Promise<boolean> {
    const status = response.status;
    let head = `HTTP/1.1 ${status} ${
      response.statusText || reasonPhrase(status)
    }\r\n`;
    let hasDate = false;
    let length: string | undefined;
    response.headers.forEach((value, name) => {
      head += `${name}: ${value}\r\n`;
      if (name === "date") hasDate = true;
      else if (name === "content-length") length = value;
      else if (name === "connection" && /\bclose\b/i.test(value)) {
        exchange.keepAlive = false;
      }
    });
    if (!hasDate) head += `date: ${httpDate()}\r\n`;
    const whole = isStreamed(response) === false;
    const noBody = exchange.method === "HEAD" || status === 204 ||
      status === 304;
    if (noBody) {
      if (!whole) response.body?.cancel().catch(() => {});
      await writeAll(this.#conn, latin1(this.#ending(exchange, head)));
      return true;
    }
    if (whole) {
      // Text, bytes or none: one write, with its Content-Length.
      const body = new Uint8Array(await response.arrayBuffer());
      if (length === undefined) {
        head += `content-length: ${body.byteLength}\r\n`;
      }
      const bytes = latin1(this.#ending(exchange, head));
      if (body.byteLength <= JOIN_LIMIT) {
        await writeAll(
          this.#conn,
          concatenate([bytes, body], bytes.byteLength + body.byteLength),
        );
      } else {
        await writeAll(this.#conn, bytes);
        await writeAll(this.#conn, body);
      }
      return true;
    }
    // A stream: chunked for HTTP/1.1 unless its length is declared; for
    // HTTP/1.0, the end of the connection ends it.
    const chunked = length === undefined && exchange.version === "1.1";
    if (chunked) head += "transfer-encoding: chunked\r\n";
    else if (length === undefined) exchange.keepAlive = false;
    await writeAll(this.#conn, latin1(this.#ending(exchange, head)));
    const reader = response.body!.getReader();
    // A declared length is kept to: a body that ends short or runs long
    // leaves the connection unusable, so it is closed after the response.
    let remaining = length === undefined ? Infinity : Number(length);
    try {
      for (;;) {
        const next = await reader.read();
        if (this.#closed) {
          reader.cancel().catch(() => {});
          return true;
        }
        if (next.done) break;
        const chunk = next.value;
        if (chunk.byteLength === 0) continue;
        if (chunk.byteLength > remaining) {
          // More than declared: what fits goes out, the rest is dropped.
          reader.cancel().catch(() => {});
          exchange.keepAlive = false;
          if (remaining > 0) {
            await writeAll(this.#conn, chunk.subarray(0, remaining));
          }
          return true;
        }
        remaining -= chunk.byteLength;
        if (chunked) {
          const size = latin1(`${chunk.byteLength.toString(16)}\r\n`);
          if (chunk.byteLength <= JOIN_LIMIT) {
            await writeAll(
              this.#conn,
              concatenate(
                [size, chunk, CRLF],
                size.byteLength + chunk.byteLength + CRLF.byteLength,
              ),
            );
          } else {
            await writeAll(this.#conn, size);
            await writeAll(this.#conn, chunk);
            await writeAll(this.#conn, CRLF);
          }
        } else {
          await writeAll(this.#conn, chunk);
        }
      }
      if (chunked) await writeAll(this.#conn, LAST_CHUNK);
      if (remaining !== Infinity && remaining > 0) exchange.keepAlive = false;
      return true;
    } catch (error) {
      if (this.#closed) return true;
      // The app's stream failed mid-body: the client must not take a
      // truncated body for a whole one, so the connection is cut.
      log(
        "warn",
        `a response body failed while being sent: ${
          (error as Error)?.message ?? error
        }`,
      );
      reader.cancel().catch(() => {});
      return false;
    }
  }

  /** The head's last lines: how the connection goes on after it. */
  #ending(exchange: Exchange, head: string): string {
    if (!exchange.keepAlive || this.#closing) {
      exchange.keepAlive = false;
      return `${head}connection: close\r\n\r\n`;
    }
    // HTTP/1.0 closes by default: keeping it open must be said.
    if (exchange.version === "1.0") {
      return `${head}connection: keep-alive\r\n\r\n`;
    }
    return `${head}\r\n`;
  }

  /** Closes once nothing is left to answer and the client has ended. */
  #maybeClose(): void {
    if (this.#writing || this.#queue.length > 0) return;
    if (this.#clientEnded || this.#closing) this.#close();
  }

  shutdown(): Promise<void> {
    this.#closing = true;
    this.#stopped = true;
    this.#maybeClose();
    return this.finished;
  }

  /**
   * Ends the connection once its responses are sent: our side first, then
   * the socket when the client has ended too, or after LINGER_MS. Closing
   * both at once could reset the connection and lose the last response.
   */
  #close(): void {
    if (this.#closed) return;
    this.#closing = true;
    this.#stopped = true;
    if (this.#writing || this.#queue.length > 0) return;
    if (this.#clientEnded) {
      this.#destroy();
      return;
    }
    try {
      this.#conn.closeWrite();
    } catch {
      this.#destroy();
      return;
    }
    const timer = setTimeout(() => this.#destroy(), LINGER_MS);
    Deno.unrefTimer(timer);
    this.finished.then(() => clearTimeout(timer));
    // The reader, still running, sees the client's end and closes.
  }

  /** Requests after the last one answered: never answered, their work dropped. */
  #drop(): void {
    for (const exchange of [...this.#queue, ...this.#parsed]) {
      exchange.complete();
      exchange.response?.then((response) =>
        response.body?.cancel().catch(() => {})
      ).catch(() => {});
    }
    this.#queue.length = 0;
    this.#parsed.length = 0;
  }

  /** Cuts the connection at once. */
  #destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#truncated();
    this.#resumeReading?.();
    this.#drop();
    try {
      this.#parser.close();
    } catch {
      // already freed
    }
    this.#endFinished();
  }

  /** Called through the connection's signal: cut it. */
  cut(): void {
    this.#destroy();
  }
}

/**
 * The per-connection server of one `serve()`: llhttp with Apache's
 * strictness (a Host for HTTP/1.1, CRLF framing, valid chunk sizes); the
 * connections' watch keeps the time.
 */
export function strictHttp(): ServeOnConnection {
  return (conn, signal, handler, errorHandler): ConnectionServer => {
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // not a TCP connection
    }
    const connection = new StrictConnection(
      conn,
      handler as FetchHandler<StrictHandlerInfo>,
      errorHandler,
    );
    signal.addEventListener("abort", () => connection.cut(), { once: true });
    return connection;
  };
}
