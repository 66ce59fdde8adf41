/**
 * `serve()`: the server's front door. Deno.serve as it is cannot be told
 * to time out a connection, to count them, or to survive running out of
 * file descriptors (its accept loop ends on EMFILE and its `finished`
 * rejects). So the listener is ours: `Deno.listen` (or `listenTls`), an
 * accept loop that waits and retries when the process is out of file
 * descriptors or has `maxClients` open, and each accepted connection
 * handed to Deno's own HTTP/1.1 and HTTP/2 server for that one connection,
 * with a deadline (src/connection_limits.ts) looked at a few times a
 * second. On `stop()` the listener closes first, idle connections are
 * closed, and busy ones as soon as their last response is sent.
 *
 * @module
 */

import {
  ConnectionClock,
  type ConnectionLimits,
  type Expiry,
  LIMIT_NAMES,
  type ResolvedLimits,
  resolveLimits,
  sweepInterval,
} from "./connection_limits.ts";
import { log } from "./logging.ts";
import { checkOptionNames, fail, outOfRange } from "./option_checks.ts";
import type { FetchHandler } from "./access_log.ts";

/** A fetch handler as Deno.serve takes it. */
type Handler = FetchHandler;

/**
 * Where and how `serve()` listens: Deno.serve's `hostname`, `port`,
 * `cert`, `key` and `onListen`, and the connection limits.
 *
 * @example HTTPS on 8443 with Apache's keep-alive
 * ```ts
 * import type { ServeOptions } from "../mod.ts";
 * const options: ServeOptions = {
 *   hostname: "0.0.0.0",
 *   port: 8443,
 *   cert: "-----BEGIN CERTIFICATE-----\n...",
 *   key: "-----BEGIN PRIVATE KEY-----\n...",
 *   keepAliveTimeout: 5,
 * };
 * ```
 */
export interface ServeOptions extends ConnectionLimits {
  /** Address to bind. Default "0.0.0.0". */
  hostname?: string;
  /** TCP port; 0 picks a free one. Default 8000. */
  port?: number;
  /** PEM certificate chain: serve HTTPS (HTTP/2 and HTTP/1.1). */
  cert?: string;
  /** PEM private key, with `cert`. */
  key?: string;
  /** Called once listening. Default: print the URL. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/**
 * A server started by `serve()`.
 *
 * @example
 * ```ts
 * import type { GatewayServer } from "../mod.ts";
 * async function drain(server: GatewayServer) {
 *   console.log(`${server.connections} connections open`);
 *   await server.stop(15);
 * }
 * ```
 */
export interface GatewayServer {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** Connections open now. */
  readonly connections: number;
  /** True from the moment `stop()` is called. */
  readonly stopping: boolean;
  /** Resolves once stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting at once (the listener closes), closes idle
   * connections, lets requests in flight finish for up to
   * `gracefulTimeout` seconds (default 15), then cuts what is left.
   */
  stop(gracefulTimeout?: number): Promise<void>;
}

type ServeOnConnection = (
  connection: Deno.Conn,
  signal: AbortSignal,
  handler: Handler,
  onError: (error: unknown) => Response | Promise<Response>,
  onListen: () => void,
) => Deno.HttpServer;

/**
 * Deno's server for one accepted connection. It is internal
 * (`Deno[Deno.internal].serveHttpOnConnection`, in Deno 2.x's
 * ext/http/00_serve.ts): the only way to keep Deno's fast HTTP server while
 * owning the listener. Undefined where it is missing.
 */
function serveOnConnection(): ServeOnConnection | undefined {
  const deno = Deno as unknown as Record<string | symbol, unknown>;
  const key = deno.internal as symbol | undefined;
  const internal = key === undefined
    ? undefined
    : deno[key] as Record<string, unknown> | undefined;
  const serve = internal?.serveHttpOnConnection;
  return typeof serve === "function" ? serve as ServeOnConnection : undefined;
}

/** Servers of this process that are stopping (for readiness). */
const stoppingServers = new Set<object>();

/** True while a server of this process is stopping: readiness says 503. */
export function serversStopping(): boolean {
  return stoppingServers.size > 0;
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
  /** Deno's server for this connection (undefined until it is set up). */
  server?: Deno.HttpServer;
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Serves `handler` like `Deno.serve`, with mod_wsgi-express's connection
 * limits: a new connection has `headerTimeout` (15 s) to send its first
 * request head, an idle one is closed after `keepAliveTimeout` (2 s), a
 * response that makes no progress for `socketTimeout` (60 s) is cut, and
 * at most `maxClients` connections are open (the others wait in the
 * listen backlog). Running out of file descriptors pauses accepting and
 * is logged once per burst; it never ends the process. `stop()` closes the
 * listener first, then drains.
 *
 * @example A Hono app with shorter keep-alive, stopped gracefully
 * ```ts
 * import { Hono } from "hono";
 * import { serve } from "../mod.ts";
 * const app = new Hono();
 * app.get("/", (c) => c.text("hello"));
 * const server = serve(
 *   { hostname: "127.0.0.1", port: 0, keepAliveTimeout: 1, onListen() {} },
 *   app.fetch,
 * );
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * if (await response.text() !== "hello") throw new Error("no answer");
 * await server.stop(5);
 * ```
 */
export function serve(
  options: ServeOptions,
  handler: FetchHandler,
): GatewayServer {
  const where = "serve()";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where}: options must be an object`);
  }
  if (typeof handler !== "function") {
    throw new TypeError(`${where}: the handler must be a function`);
  }
  checkOptionNames(options, {
    where,
    names: ["hostname", "port", "cert", "key", "onListen", ...LIMIT_NAMES],
  });
  const { hostname, port, cert, key, onListen, ...limitOptions } = options;
  const limits = resolveLimits(where, limitOptions);
  if (hostname !== undefined && typeof hostname !== "string") {
    throw fail(where, "hostname", 'an address such as "0.0.0.0"', hostname);
  }
  if (port !== undefined && typeof port !== "number") {
    throw fail(where, "port", "a port number", port);
  }
  if (
    port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)
  ) {
    throw outOfRange(where, "port", "an integer from 0 to 65535", port);
  }
  for (const [name, value] of [["cert", cert], ["key", key]] as const) {
    if (value !== undefined && typeof value !== "string") {
      throw fail(where, name, "PEM text", value);
    }
  }
  if (onListen !== undefined && typeof onListen !== "function") {
    throw fail(where, "onListen", "a function", onListen);
  }
  const perConnection = serveOnConnection();
  guardCuts();
  if (limits.socketTimeout > 0 && !CAN_WATCH_STREAMS) {
    log(
      "warn",
      "serve(): this Deno keeps a Response's body where it cannot be told from outside whether it is a stream; socketTimeout does not cut stalled streamed responses",
    );
  }
  const listenAt = {
    hostname: hostname ?? "0.0.0.0",
    port: port ?? 8000,
  };
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError(`${where}: options "cert" and "key" go together`);
  }
  if (!perConnection) {
    return fallback(listenAt, { cert, key, onListen }, handler);
  }
  const listener: Deno.Listener = cert !== undefined && key !== undefined
    ? Deno.listenTls({
      ...listenAt,
      cert,
      key,
      alpnProtocols: ["h2", "http/1.1"],
    })
    : Deno.listen(listenAt);
  const addr = listener.addr as Deno.NetAddr;
  (onListen ?? ((a: Deno.NetAddr) =>
    console.log(
      `Listening on ${cert ? "https" : "http"}://${a.hostname}:${a.port}/`,
    )))(addr);

  const open = new Set<Connection>();
  let stopping = false;
  let slotFreed: (() => void) | undefined;
  let allClosed: (() => void) | undefined;

  const closed = (connection: Connection) => {
    if (!open.delete(connection)) return;
    slotFreed?.();
    if (open.size === 0) allClosed?.();
  };

  /** Cuts a connection at once, whatever it was doing. */
  const cut = (connection: Connection) => {
    if (connection.controller.signal.aborted || connection.closing) return;
    cutting = true;
    try {
      connection.controller.abort();
    } finally {
      cutting = false;
    }
  };

  /**
   * Closes a connection with nothing in flight. Gracefully: a body given
   * whole (text, bytes) counts as sent once Deno has it, and may still be
   * on its way to a slow client; Deno's own graceful close lets it finish.
   */
  const closeIdle = (connection: Connection) => {
    if (connection.closing || connection.controller.signal.aborted) return;
    connection.closing = true;
    connection.server?.shutdown().catch(() => {});
  };

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const connection of open) {
      if (connection.closing) continue;
      const expiry = connection.clock.expired(now);
      if (expiry === undefined) continue;
      // Idle keep-alive connections closing is routine; the others are not.
      log(
        expiry === "keep-alive" ? "debug" : "info",
        `closed the connection from ${connection.peer}: ${
          EXPLAIN[expiry](limits)
        }`,
      );
      if (expiry === "keep-alive") closeIdle(connection);
      else cut(connection);
    }
  }, sweepInterval(limits));
  Deno.unrefTimer(sweep);

  const accept = (conn: Deno.Conn) => {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const connection: Connection = {
      clock: new ConnectionClock(limits, performance.now()),
      controller: new AbortController(),
      peer: `${remote.hostname}:${remote.port}`,
      closeWhenIdle: false,
      closing: false,
    };
    const { clock } = connection;
    const idle = () => {
      if (connection.closeWhenIdle || limits.keepAliveTimeout === 0) {
        closeIdle(connection);
      }
    };
    const tracked: Handler = (request, info) => {
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
      const result = handler(request, info);
      return result instanceof Promise ? result.then(answer) : answer(result);
    };
    open.add(connection);
    try {
      connection.server = perConnection(
        conn,
        connection.controller.signal,
        tracked,
        onError,
        () => {},
      );
      connection.server.finished.catch(() => {}).finally(() =>
        closed(connection)
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
      closed(connection);
    }
  };

  const acceptLoop = async () => {
    let refused = 0;
    let refusedSince = 0;
    let delay = 10;
    let full = false;
    while (!stopping) {
      if (open.size >= limits.maxClients) {
        if (!full) {
          log(
            "warn",
            `${open.size} connections open, the maximum (maxClients): new clients wait in the listen backlog`,
          );
          full = true;
        }
        await new Promise<void>((resolve) => slotFreed = resolve);
        slotFreed = undefined;
        continue;
      }
      if (full && open.size < limits.maxClients * 0.9) full = false;
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (stopping || error instanceof Deno.errors.BadResource) break;
        if (refused++ === 0) {
          refusedSince = performance.now();
          log(
            "warn",
            `cannot accept connections (${
              (error as Error).message
            }) with ${open.size} open: new clients wait in the listen backlog; retrying`,
          );
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 1000);
        continue;
      }
      if (refused > 0) {
        log(
          "warn",
          `accepting connections again after ${
            Math.round(performance.now() - refusedSince)
          } ms (${refused} attempts refused)`,
        );
        refused = 0;
        delay = 10;
      }
      accept(conn);
    }
  };
  const accepting = acceptLoop();

  let stopped: Promise<void> | undefined;
  const self = {};
  const stop = (gracefulTimeout = 15) =>
    stopped ??= (async () => {
      stopping = true;
      stoppingServers.add(self);
      try {
        listener.close();
      } catch {
        // already closed
      }
      slotFreed?.();
      await accepting;
      const drained = new Promise<void>((resolve) => {
        allClosed = resolve;
        if (open.size === 0) resolve();
      });
      for (const connection of open) {
        connection.closeWhenIdle = true;
        if (connection.clock.inFlight === 0) closeIdle(connection);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), gracefulTimeout * 1000);
      });
      if (await Promise.race([drained, late]) === "late") {
        log(
          "warn",
          `${open.size} connections still busy after ${gracefulTimeout} s (gracefulTimeout): cut`,
        );
        for (const connection of open) cut(connection);
        await Promise.race([drained, sleep(1000)]);
      }
      clearTimeout(timer);
      clearInterval(sweep);
      stoppingServers.delete(self);
    })();

  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => finish = resolve);
  accepting.then(() => stop()).then(() => finish());
  return {
    addr,
    get connections() {
      return open.size;
    },
    get stopping() {
      return stopping;
    },
    finished,
    stop,
  };
}

/**
 * The key of Deno's inner response on a Response (a symbol described
 * "response", ext/fetch/23_response.js), found once; undefined where Deno
 * keeps it otherwise. Reading `response.body` instead would turn every
 * text or bytes body into a stream and cost Deno its fast path: 12-22 µs
 * more CPU per request for a hello world (measured 2026-12-03).
 */
const INNER_RESPONSE = Object.getOwnPropertySymbols(
  new Response(new ReadableStream()),
).find((key) => key.description === "response");

/** Whether a response's body is a stream (true), given whole (false), or unknown. */
function isStreamed(response: Response): boolean | undefined {
  if (INNER_RESPONSE === undefined) return undefined;
  const inner = (response as unknown as Record<symbol, unknown>)[
    INNER_RESPONSE
  ] as { body?: { streamOrStatic?: unknown } | null } | undefined;
  if (inner === undefined) return undefined;
  return inner.body?.streamOrStatic instanceof ReadableStream;
}

/** Whether `socketTimeout` can watch streamed bodies on this Deno. */
const CAN_WATCH_STREAMS = isStreamed(
      new Response(new ReadableStream()),
    ) === true && isStreamed(new Response("x")) === false;

/**
 * A streamed body is handed on through a stream that notes each chunk
 * Deno takes (it takes the next when the socket has room), so a slow but
 * steady download is never cut and a stalled one is. A body given whole
 * is left to Deno's fast path.
 */
function watchBody(response: Response, clock: ConnectionClock): Response {
  // 101 (a WebSocket upgrade) must reach Deno as it is.
  if (response.status < 200 || isStreamed(response) !== true) return response;
  const body = response.body;
  if (body === null) return response;
  const reader = body.getReader();
  const watched = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      clock.progress(performance.now());
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return new Response(watched, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** Deno.serve where Deno lacks the per-connection server: no limits. */
function fallback(
  listenAt: { hostname: string; port: number },
  tls: { cert?: string; key?: string; onListen?: (addr: Deno.NetAddr) => void },
  handler: Handler,
): GatewayServer {
  log(
    "warn",
    "serve(): this Deno has no per-connection server (Deno[Deno.internal].serveHttpOnConnection); serving with Deno.serve, without connection timeouts or maxClients",
  );
  let stopping = false;
  const server = Deno.serve({
    ...listenAt,
    ...(tls.cert ? { cert: tls.cert, key: tls.key! } : {}),
    onListen: tls.onListen,
  }, handler);
  const self = {};
  return {
    addr: server.addr,
    connections: 0,
    get stopping() {
      return stopping;
    },
    finished: server.finished.catch((error) => {
      log("error", `the server stopped: ${(error as Error).message}`);
    }),
    async stop(gracefulTimeout = 15) {
      stopping = true;
      stoppingServers.add(self);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        server.shutdown(),
        new Promise((resolve) => {
          timer = setTimeout(resolve, gracefulTimeout * 1000);
        }),
      ]);
      clearTimeout(timer);
      stoppingServers.delete(self);
    },
  };
}
