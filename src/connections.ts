/**
 * `serve()`: the server's front door. Deno.serve as it is cannot be told
 * to time out a connection, to count them, or to survive running out of
 * file descriptors (its accept loop ends on EMFILE and its `finished`
 * rejects). So the listener is ours: `Deno.listen` (or `listenTls`), an
 * accept loop (src/accept_loop.ts) that waits and retries when the
 * process is out of file descriptors or has `maxClients` open, and each
 * accepted connection handed to a server for that one connection, under
 * a deadline (src/open_connections.ts): node:http's strict HTTP/1.x
 * parser for plain HTTP (src/strict_http.ts), Deno's own HTTP/1.1 and
 * HTTP/2 server for TLS. Here:
 * the options checked, the listener, and the order of a stop: the
 * listener closes first, then the connections drain.
 *
 * @module
 */

import {
  type ConnectionLimits,
  LIMIT_NAMES,
  resolveLimits,
} from "./connection_limits.ts";
import { AcceptLoop } from "./accept_loop.ts";
import { OpenConnections, serveOnConnection } from "./open_connections.ts";
import { strictHttp } from "./strict_http.ts";
import { CAN_WATCH_STREAMS } from "./response_progress.ts";
import { log } from "./logging.ts";
import { checkOptionNames, fail, outOfRange } from "./option_checks.ts";
import type { FetchHandler } from "./access_log.ts";

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
/** Servers of this process that are stopping (for readiness). */
const stoppingServers = new Set<object>();

/** True while a server of this process is stopping: readiness says 503. */
export function serversStopping(): boolean {
  return stoppingServers.size > 0;
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
  // Plain HTTP has its own parser; only TLS needs Deno's internal one.
  const perConnection = cert === undefined ? strictHttp() : serveOnConnection();
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

  // The loop's first accept is awaited, so no connection closes before
  // `accepting` exists.
  const open = new OpenConnections(
    limits,
    handler,
    perConnection,
    () => accepting.roomMade(),
  );
  const accepting = new AcceptLoop(
    listener,
    limits.maxClients,
    () => open.size,
    (conn) => open.add(conn),
  );

  let stopping = false;
  let stopped: Promise<void> | undefined;
  const self = {};
  const stop = (gracefulTimeout = 15) =>
    stopped ??= (async () => {
      stopping = true;
      stoppingServers.add(self);
      await accepting.stop();
      await open.drain(gracefulTimeout);
      stoppingServers.delete(self);
    })();

  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => finish = resolve);
  accepting.finished.then(() => stop()).then(() => finish());
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

/** Deno.serve for HTTPS where Deno lacks the per-connection server: no limits. */
function fallback(
  listenAt: { hostname: string; port: number },
  tls: { cert?: string; key?: string; onListen?: (addr: Deno.NetAddr) => void },
  handler: FetchHandler,
): GatewayServer {
  log(
    "warn",
    "serve(): this Deno has no per-connection server (Deno[Deno.internal].serveHttpOnConnection); serving HTTPS with Deno.serve, without connection timeouts or maxClients",
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
