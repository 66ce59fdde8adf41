/**
 * Turns what a WSGI application produced into a Fetch API Response whose
 * body streams chunk by chunk, and tells the caller when the exchange is
 * over so its interpreter can take the next request.
 *
 * @module
 */

import type { ResponseHead } from "./protocol.ts";
import { STATUS_CODES } from "node:http";
import { log } from "./logging.ts";

/**
 * A refusal that carries the HTTP status its client gets (a bad target,
 * a body that could not be read); subclasses name the cause.
 */
export class StatusError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = new.target.name;
    this.status = status;
  }
}

/** The rest of a response after its head, pulled one chunk at a time. */
export interface BodyChannel {
  /** The next chunk; rejects when the application failed mid-response. */
  next(): Promise<{ chunk?: Uint8Array; done: boolean }>;
  /** The client went away or the body is not wanted: close the iterable. */
  cancel(): void;
}

/** Where a response belongs, for the log. */
export interface ResponseContext {
  method: string;
  mount: string;
  group: string;
  /** Called once when the exchange is over, however it ended. */
  onDone: (outcome: "complete" | "cancelled" | "failed") => void;
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** The standard reason phrase of a status code, from node:http's table. */
export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? "Unknown";
}

/** What an error response carries besides its status. */
export interface ErrorResponseOptions {
  /** Extra headers, such as Allow, Retry-After or a file's validators. */
  headers?: HeadersInit;
  /** The request's method: a HEAD gets the headers without a body. */
  method?: string;
}

/**
 * A short plain-text answer, "404 Not Found", that every part of the
 * gateway gives for a request it refuses or cannot serve; the details go
 * to the log, never into the body.
 */
export function errorResponse(
  status: number,
  options: ErrorResponseOptions = {},
): Response {
  const reason = reasonPhrase(status);
  const headers = new Headers(options.headers);
  headers.set("content-type", "text/plain; charset=utf-8");
  return new Response(
    options.method === "HEAD" ? null : `${status} ${reason}\n`,
    { status, statusText: reason, headers },
  );
}

/**
 * Builds the Response for a started exchange. Headers are appended one by
 * one to the Response itself, because Deno then keeps repeated names as
 * separate header lines instead of joining them.
 */
export function buildResponse(
  head: ResponseHead,
  channel: BodyChannel,
  context: ResponseContext,
): Response {
  try {
    return responseOf(head, channel, context);
  } finally {
    // Copied by now, or not wanted.
    head.lent?.release();
  }
}

function responseOf(
  head: ResponseHead,
  channel: BodyChannel,
  context: ResponseContext,
): Response {
  let finished = false;
  const finish = (outcome: "complete" | "cancelled" | "failed") => {
    if (finished) return;
    finished = true;
    context.onDone(outcome);
  };
  if (head.status < 200 || head.status > 599) {
    log(
      "error",
      `The application answered with status ${head.status}, which cannot be sent as a final response; answering 500`,
      { mount: context.mount, group: context.group },
    );
    if (!head.done) channel.cancel();
    finish(head.done ? "complete" : "cancelled");
    return errorResponse(500, { method: context.method });
  }
  let declaredLength: number | undefined;
  for (const [name, value] of head.headers) {
    if (name.toLowerCase() === "content-length" && /^\d+$/.test(value)) {
      declaredLength = Number(value);
    }
  }
  // Like mod_wsgi, never send more than the declared Content-Length.
  const fit = (chunk: Uint8Array) =>
    (declaredLength !== undefined && chunk.length > declaredLength
      ? chunk.subarray(0, declaredLength)
      : chunk) as Uint8Array<ArrayBuffer>;
  const init = { status: head.status, statusText: head.statusText };
  const noBody = context.method === "HEAD" ||
    NULL_BODY_STATUS.has(head.status);
  let response: Response;
  if (noBody) {
    if (!head.done) channel.cancel();
    finish(head.done ? "complete" : "cancelled");
    response = new Response(null, init);
  } else if (head.done) {
    // Deno's Response copies a byte array: a lent chunk is copied straight
    // out of Python's memory, once.
    response = head.lent
      ? head.lent.read((bytes) => new Response(fit(bytes), init))
      : new Response(fit(head.chunk ?? new Uint8Array(0)), init);
    finish("complete");
  } else {
    const first = head.lent
      ? head.lent.read((bytes) => bytes.slice())
      : head.chunk;
    response = new Response(
      streamBody(first, channel, declaredLength, finish),
      init,
    );
  }
  for (const [name, value] of head.headers) {
    response.headers.append(name, value);
  }
  return response;
}

function streamBody(
  first: Uint8Array | undefined,
  channel: BodyChannel,
  declaredLength: number | undefined,
  finish: (outcome: "complete" | "cancelled" | "failed") => void,
): ReadableStream<Uint8Array> {
  let remaining = declaredLength ?? Infinity;
  const send = (
    controller: ReadableStreamDefaultController<Uint8Array>,
    chunk: Uint8Array,
  ): boolean => {
    // Like mod_wsgi, never send more than the declared Content-Length.
    if (chunk.length > remaining) chunk = chunk.subarray(0, remaining);
    remaining -= chunk.length;
    if (chunk.length) controller.enqueue(chunk);
    return remaining <= 0;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (first) {
        const chunk = first;
        first = undefined;
        if (send(controller, chunk)) {
          channel.cancel();
          controller.close();
          finish("complete");
        }
        return;
      }
      try {
        const { chunk, done } = await channel.next();
        const full = chunk ? send(controller, chunk) : false;
        if (done || full) {
          if (!done) channel.cancel();
          controller.close();
          finish("complete");
        }
      } catch (error) {
        // Output has started: the status line is gone, so the only honest
        // signal left is to cut the response short.
        finish("failed");
        controller.error(error);
      }
    },
    cancel() {
      channel.cancel();
      finish("cancelled");
    },
  }, { highWaterMark: 0 });
}
