/**
 * The connections `serve()` has open, and their watch. Each is handed to
 * Deno's own HTTP/1.1 and HTTP/2 server for that one connection, its
 * requests wrapped so that its clock (connection_limits.ts) sees them
 * start, answer and end; a sweep a few times a second closes those whose
 * limit ran out. A connection closes gracefully when it is idle (its
 * last response sent), or is cut at once. On drain, idle ones close now
 * and busy ones as soon as their last response is sent.
 *
 * @module
 */

import {
  ConnectionClock,
  type Expiry,
  type ResolvedLimits,
  sweepInterval,
} from "./connection_limits.ts";
import { log } from "./logging.ts";
import { watchBody } from "./response_progress.ts";
import type { FetchHandler } from "./access_log.ts";

/** What the watch needs of the server of one connection. */
export interface ConnectionServer {
  /** Resolves when the connection has closed. */
  readonly finished: Promise<void>;
  /** Closes the connection gracefully once its responses are sent. */
  shutdown(): Promise<void>;
}

/**
 * The server for one accepted connection: Deno's own (TLS, HTTP/2) or
 * strict_http.ts's (plain HTTP/1.x). Aborting `signal` cuts it.
 */
export type ServeOnConnection = (
  connection: Deno.Conn,
  signal: AbortSignal,
  handler: FetchHandler,
  onError: (error: unknown) => Response | Promise<Response>,
  onListen: () => void,
) => ConnectionServer;

/**
 * Deno's server for one accepted connection. It is internal
 * (`Deno[Deno.internal].serveHttpOnConnection`, in Deno 2.x's
 * ext/http/00_serve.ts): the only way to keep Deno's fast HTTP server while
 * owning the listener. Undefined where it is missing.
 */
export function serveOnConnection(): ServeOnConnection | undefined {
  const deno = Deno as unknown as Record<string | symbol, unknown>;
  const key = deno.internal as symbol | undefined;
  const internal = key === undefined
    ? undefined
    : deno[key] as Record<string, unknown> | undefined;
  const serve = internal?.serveHttpOnConnection;
  return typeof serve === "function" ? serve as ServeOnConnection : undefined;
}

/**
 * Aborting a connection's signal makes Deno cancel its server resource
 * from an abort listener; if the client closed that connection in the
 * same instant, the resource is gone and the listener throws BadResource,
 * which would be reported as uncaught and end the process. The abort is
 * synchronous, so that one error is recognised by this flag and dropped.
 */
let cutting = false;
let guardInstalled = false;

function guardCuts(): void {
  if (guardInstalled) return;
  guardInstalled = true;
  globalThis.addEventListener("error", (event) => {
    if (cutting && event.error instanceof Deno.errors.BadResource) {
      event.preventDefault();
    }
  });
}

interface Connection {
  clock: ConnectionClock;
  controller: AbortController;
  peer: string;
  /** The server for this connection (undefined until it is set up). */
  server?: ConnectionServer;
  /** Close as soon as nothing is in flight (the server is stopping). */
  closeWhenIdle: boolean;
  /** A graceful close has begun: the connection can no longer be cut. */
  closing: boolean;
}

const EXPLAIN: Record<Expiry, (limits: ResolvedLimits) => string> = {
  header: (l) =>
    `no complete request head within ${l.headerTimeout} s (headerTimeout)`,
  "keep-alive": (l) =>
    `idle for ${l.keepAliveTimeout} s after its last response (keepAliveTimeout)`,
  socket: (l) =>
    `its response made no progress for ${l.socketTimeout} s (socketTimeout)`,
};

function onError(error: unknown): Response {
  log(
    "error",
    `unhandled error in a request handler: ${
      (error as Error)?.stack ?? String(error)
    }`,
  );
  return new Response("Internal Server Error", { status: 500 });
}

/** The open connections of one server, each under its deadline. */
export class OpenConnections {
  readonly #open = new Set<Connection>();
  readonly #limits: ResolvedLimits;
  readonly #handler: FetchHandler;
  readonly #perConnection: ServeOnConnection;
  readonly #onClose: () => void;
  readonly #sweep: ReturnType<typeof setInterval>;
  #allClosed?: () => void;

  /** `onClose` learns of each connection that closes. */
  constructor(
    limits: ResolvedLimits,
    handler: FetchHandler,
    perConnection: ServeOnConnection,
    onClose: () => void,
  ) {
    this.#limits = limits;
    this.#handler = handler;
    this.#perConnection = perConnection;
    this.#onClose = onClose;
    guardCuts();
    this.#sweep = setInterval(
      () => this.#closeExpired(),
      sweepInterval(limits),
    );
    Deno.unrefTimer(this.#sweep);
  }

  /** Connections open now. */
  get size(): number {
    return this.#open.size;
  }

  /** Hands an accepted connection to Deno's server for it. */
  add(conn: Deno.Conn): void {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const connection: Connection = {
      clock: new ConnectionClock(this.#limits, performance.now()),
      controller: new AbortController(),
      peer: `${remote.hostname}:${remote.port}`,
      closeWhenIdle: false,
      closing: false,
    };
    this.#open.add(connection);
    try {
      connection.server = this.#perConnection(
        conn,
        connection.controller.signal,
        this.#tracked(connection),
        onError,
        () => {},
      );
      connection.server.finished.catch(() => {}).finally(() =>
        this.#closed(connection)
      );
    } catch (error) {
      log(
        "warn",
        `could not serve the connection from ${connection.peer}: ${
          (error as Error).message
        }`,
      );
      try {
        conn.close();
      } catch {
        // already closed
      }
      this.#closed(connection);
    }
  }

  /**
   * Closes idle connections now and busy ones once their last response is
   * sent; after `gracefulTimeout` seconds cuts what is left. Resolves when
   * all are closed (or a second after the cut).
   */
  async drain(gracefulTimeout: number): Promise<void> {
    const drained = new Promise<void>((resolve) => {
      this.#allClosed = resolve;
      if (this.#open.size === 0) resolve();
    });
    for (const connection of this.#open) {
      connection.closeWhenIdle = true;
      if (connection.clock.inFlight === 0) this.#closeIdle(connection);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), gracefulTimeout * 1000);
    });
    if (await Promise.race([drained, late]) === "late") {
      log(
        "warn",
        `${this.#open.size} connections still busy after ${gracefulTimeout} s (gracefulTimeout): cut`,
      );
      for (const connection of this.#open) this.#cut(connection);
      await Promise.race([
        drained,
        new Promise((resolve) => setTimeout(resolve, 1000)),
      ]);
    }
    clearTimeout(timer);
    clearInterval(this.#sweep);
  }

  /** The handler as this connection's server calls it: its clock sees each request. */
  #tracked(connection: Connection): FetchHandler {
    const { clock } = connection;
    const limits = this.#limits;
    const idle = () => {
      if (connection.closeWhenIdle || limits.keepAliveTimeout === 0) {
        this.#closeIdle(connection);
      }
    };
    return (request, info) => {
      clock.started();
      let answered = false;
      const end = () => {
        if (clock.ended(performance.now(), answered)) idle();
      };
      info.completed.then(end, end);
      const answer = (response: Response) => {
        answered = true;
        clock.answered(performance.now());
        return limits.socketTimeout > 0 ? watchBody(response, clock) : response;
      };
      const result = this.#handler(request, info);
      return result instanceof Promise ? result.then(answer) : answer(result);
    };
  }

  #closeExpired(): void {
    const now = performance.now();
    for (const connection of this.#open) {
      if (connection.closing) continue;
      const expiry = connection.clock.expired(now);
      if (expiry === undefined) continue;
      // Idle keep-alive connections closing is routine; the others are not.
      log(
        expiry === "keep-alive" ? "debug" : "info",
        `closed the connection from ${connection.peer}: ${
          EXPLAIN[expiry](this.#limits)
        }`,
      );
      if (expiry === "keep-alive") this.#closeIdle(connection);
      else this.#cut(connection);
    }
  }

  #closed(connection: Connection): void {
    if (!this.#open.delete(connection)) return;
    this.#onClose();
    if (this.#open.size === 0) this.#allClosed?.();
  }

  /** Cuts a connection at once, whatever it was doing. */
  #cut(connection: Connection): void {
    if (connection.controller.signal.aborted || connection.closing) return;
    cutting = true;
    try {
      connection.controller.abort();
    } finally {
      cutting = false;
    }
  }

  /**
   * Closes a connection with nothing in flight. Gracefully: a body given
   * whole (text, bytes) counts as sent once Deno has it, and may still be
   * on its way to a slow client; Deno's own graceful close lets it finish.
   */
  #closeIdle(connection: Connection): void {
    if (connection.closing || connection.controller.signal.aborted) return;
    connection.closing = true;
    connection.server?.shutdown().catch(() => {});
  }
}
