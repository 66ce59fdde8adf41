/**
 * The access log: Apache's combined format (mod_wsgi-express's
 * `--access-log`, Apache's `CustomLog ... combined`) or JSON lines, one
 * line per request once its response body has been sent, with the bytes
 * that were really sent.
 *
 * @module
 */

import { protocolOf } from "./environ.ts";

/**
 * The formats `withAccessLog()` writes.
 *
 * @example
 * ```ts
 * import type { AccessLogFormat } from "../mod.ts";
 * const format: AccessLogFormat = "combined";
 * ```
 */
export type AccessLogFormat = "combined" | "json";

/**
 * Options of `withAccessLog()`.
 *
 * @example JSON lines to a function
 * ```ts
 * import type { AccessLogOptions } from "../mod.ts";
 * const lines: string[] = [];
 * const options: AccessLogOptions = { format: "json", sink: (line) => lines.push(line) };
 * ```
 */
export interface AccessLogOptions {
  /**
   * `"combined"` (default): Apache's `%h %l %u %t "%r" %>s %b
   * "%{Referer}i" "%{User-agent}i"`. `"json"`: one JSON object a line.
   */
  format?: AccessLogFormat;
  /** A file to append to, or `"-"` for stdout (the default without `sink`). */
  path?: string;
  /** Receives each line (without its newline) instead of a file. */
  sink?: (line: string) => void;
}

/** What one request's line is made of. */
export interface AccessRecord {
  /** The peer's address (Apache's `%h`). */
  remote: string;
  /** When the request arrived. */
  time: Date;
  method: string;
  /** The request target as sent: path and query. */
  target: string;
  /** "HTTP/1.1", "HTTP/2", ... */
  protocol: string;
  status: number;
  /** Response body bytes sent to the client. */
  bytes: number;
  referer: string | null;
  userAgent: string | null;
  /** From arrival to the last byte, in milliseconds. */
  duration: number;
}

const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

const encoder = new TextEncoder();

const pad = (value: number, width = 2) => String(value).padStart(width, "0");

/** Apache's `%t`: `[10/Oct/2000:13:55:36 -0700]`, in local time. */
export function apacheTime(time: Date): string {
  const offset = -time.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${
    pad(Math.abs(offset) % 60)
  }`;
  return `[${pad(time.getDate())}/${
    MONTHS[time.getMonth()]
  }/${time.getFullYear()}:${pad(time.getHours())}:${pad(time.getMinutes())}:${
    pad(time.getSeconds())
  } ${zone}]`;
}

/**
 * Escapes a value for a quoted log field as Apache does: `"` and `\` with
 * a backslash, control and non-ASCII bytes as `\xhh`, so that a client
 * cannot forge a line.
 */
export function escapeField(value: string): string {
  let out = "";
  for (const byte of encoder.encode(value)) {
    if (byte === 0x22 || byte === 0x5c) out += "\\" + String.fromCharCode(byte);
    else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x" + byte.toString(16).padStart(2, "0");
    } else out += String.fromCharCode(byte);
  }
  return out;
}

/** One line of the log, without its newline. */
export function formatAccessLine(
  record: AccessRecord,
  format: AccessLogFormat,
): string {
  if (format === "json") {
    return JSON.stringify({
      time: record.time.toISOString(),
      remote: record.remote,
      method: record.method,
      target: record.target,
      protocol: record.protocol,
      status: record.status,
      bytes: record.bytes,
      referer: record.referer,
      userAgent: record.userAgent,
      durationMs: Math.round(record.duration * 1000) / 1000,
    });
  }
  const quoted = (value: string | null) =>
    value === null ? '"-"' : `"${escapeField(value)}"`;
  const requestLine = `${record.method} ${record.target} ${record.protocol}`;
  return `${record.remote} - - ${apacheTime(record.time)} ${
    quoted(requestLine)
  } ${record.status} ${record.bytes === 0 ? "-" : record.bytes} ${
    quoted(record.referer)
  } ${quoted(record.userAgent)}`;
}

/** The request target as sent (Request.url keeps the client's encoding). */
function targetOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  const target = start < 0 ? "/" : url.slice(start);
  const hash = target.indexOf("#");
  return hash < 0 ? target : target.slice(0, hash);
}

/** writeSync may write part of a long line: write the rest too. */
function writeLine(target: { writeSync(p: Uint8Array): number }, line: string) {
  let bytes = encoder.encode(line + "\n");
  while (bytes.length > 0) bytes = bytes.subarray(target.writeSync(bytes));
}

function writerFor(options: AccessLogOptions): (line: string) => void {
  if (options.sink) return options.sink;
  if (options.path === undefined || options.path === "-") {
    return (line) => writeLine(Deno.stdout, line);
  }
  const file = Deno.openSync(options.path, {
    append: true,
    create: true,
    write: true,
  });
  // Written whole at once: lines of concurrent requests never interleave.
  return (line) => writeLine(file, line);
}

function checkOptions(options: unknown): AccessLogOptions {
  const where = "withAccessLog";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where}: options must be an object`);
  }
  const { format, path, sink } = options as Record<string, unknown>;
  if (format !== undefined && format !== "combined" && format !== "json") {
    throw new TypeError(
      `${where}: option "format" must be "combined" or "json", got ${
        JSON.stringify(format)
      }`,
    );
  }
  if (path !== undefined && (typeof path !== "string" || path === "")) {
    throw new TypeError(
      `${where}: option "path" must be a file path or "-" for stdout`,
    );
  }
  if (sink !== undefined && typeof sink !== "function") {
    throw new TypeError(`${where}: option "sink" must be a function`);
  }
  if (sink !== undefined && path !== undefined) {
    throw new TypeError(`${where}: give option "path" or "sink", not both`);
  }
  return options as AccessLogOptions;
}

/**
 * A fetch handler, as `Deno.serve` calls it.
 *
 * @example
 * ```ts
 * import type { FetchHandler } from "../mod.ts";
 * const hello: FetchHandler = () => new Response("hello");
 * ```
 */
export type FetchHandler<Info = Deno.ServeHandlerInfo> = (
  request: Request,
  info: Info,
) => Response | Promise<Response>;

/**
 * Wraps a fetch handler so that every request is logged once its response
 * body has been sent (or the client went away): mod_wsgi-express's
 * `--access-log`. The byte count is what was really sent, counted as a
 * streamed body goes out. Off unless you wrap the handler.
 *
 * @example Apache's combined format on stdout
 * ```ts
 * import { createRouter, withAccessLog } from "../mod.ts";
 * const router = createRouter();
 * router.all("/", () => new Response("hello"));
 * const lines: string[] = [];
 * const handler = withAccessLog(router.fetch, { sink: (line) => lines.push(line) });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
 * await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text();
 * await server.shutdown();
 * if (!/"GET \/ HTTP\/1.1" 200 5 /.test(lines[0])) throw new Error(lines[0]);
 * ```
 */
export function withAccessLog<Info extends Partial<Deno.ServeHandlerInfo>>(
  handler: FetchHandler<Info>,
  options: AccessLogOptions = {},
): (request: Request, info: Info) => Promise<Response> {
  if (typeof handler !== "function") {
    throw new TypeError("withAccessLog: the handler must be a function");
  }
  const format = checkOptions(options).format ?? "combined";
  const write = writerFor(options);
  return async (request, info) => {
    const time = new Date();
    const started = performance.now();
    const response = await handler(request, info);
    let logged = false;
    const log = (bytes: number) => {
      if (logged) return;
      logged = true;
      const remote = info?.remoteAddr;
      write(formatAccessLine({
        remote: remote && "hostname" in remote ? remote.hostname : "-",
        time,
        method: request.method,
        target: targetOf(request.url),
        protocol: protocolOf(request, info),
        status: response.status,
        bytes,
        referer: request.headers.get("referer"),
        userAgent: request.headers.get("user-agent"),
        duration: performance.now() - started,
      }, format));
    };
    if (!response.body || request.method === "HEAD") {
      log(0);
      return response;
    }
    return new Response(counted(response.body, log), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

/** The body, counting bytes as they go out; `done` once it ends or stops. */
function counted(
  body: ReadableStream<Uint8Array>,
  done: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let bytes = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: ended, value } = await reader.read();
        if (ended) {
          controller.close();
          done(bytes);
          return;
        }
        bytes += value.byteLength;
        controller.enqueue(value);
      } catch (error) {
        done(bytes);
        controller.error(error);
      }
    },
    cancel(reason) {
      // The client went away: what was sent so far is what it got.
      done(bytes);
      return reader.cancel(reason);
    },
  });
}
