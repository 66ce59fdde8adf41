/**
 * The connection limits of `serve()`: their defaults, their checks, and the
 * deadline of one connection as its requests come and go. Pure (no I/O but
 * reading the open-file limit once), so the timing rules have unit tests.
 *
 * @module
 */

import { checkOptionNames, count, seconds } from "./option_checks.ts";

/**
 * How long a connection may wait at each stage, and how many may be open
 * at once (mod_wsgi-express's `--header-timeout`, `--keep-alive-timeout`,
 * `--socket-timeout`, `--max-clients`). Seconds; see `serve()`.
 *
 * @example Apache's own defaults instead of mod_wsgi-express's
 * ```ts
 * import type { ConnectionLimits } from "../mod.ts";
 * const apache: ConnectionLimits = {
 *   headerTimeout: 20,
 *   keepAliveTimeout: 5,
 *   socketTimeout: 60,
 *   maxClients: 400,
 * };
 * ```
 */
export interface ConnectionLimits {
  /**
   * Seconds a new connection has to deliver its first request head, whole
   * (Apache's `RequestReadTimeout header=`). Default 15; 0: no limit.
   */
  headerTimeout?: number;
  /**
   * Seconds a connection may sit idle after a response before its next
   * request head is complete (`KeepAliveTimeout`). Default 2; 0 turns
   * keep-alive off: the connection is closed after each response.
   */
  keepAliveTimeout?: number;
  /**
   * Seconds a streamed response may go without progress: without the app
   * producing, or the client taking, a chunk (Apache's `Timeout`). A body
   * given whole (text, bytes) is Deno's to send once handed over and is
   * not watched. Default 60; 0: no limit.
   */
  socketTimeout?: number;
  /**
   * Connections open at once; further clients wait in the listen backlog
   * until one closes (`MaxRequestWorkers`). Default: three quarters of the
   * process's open-file limit, at most 10000 (1000 where it cannot be read).
   */
  maxClients?: number;
}

/** The limits with every default filled in. */
export type ResolvedLimits = Required<ConnectionLimits>;

/** mod_wsgi-express's defaults (src/express/options.py). */
export const LIMIT_DEFAULTS = {
  headerTimeout: 15,
  keepAliveTimeout: 2,
  socketTimeout: 60,
} as const;

/** The names of the limits, as options. */
export const LIMIT_NAMES = [
  "headerTimeout",
  "keepAliveTimeout",
  "socketTimeout",
  "maxClients",
] as const;

const MAX_CLIENTS_CAP = 10_000;
const MAX_CLIENTS_UNKNOWN = 1_000;

/**
 * The default of maxClients from the text of /proc/self/limits: three
 * quarters of the soft "Max open files", so that the remaining quarter is
 * left to what else the server opens (files it serves, logs, Python's own
 * sockets, workers' pipes), capped at 10000.
 */
export function maxClientsFromLimits(text: string | undefined): number {
  const soft = text?.match(/^Max open files\s+(\d+|unlimited)/m)?.[1];
  if (soft === undefined) return MAX_CLIENTS_UNKNOWN;
  if (soft === "unlimited") return MAX_CLIENTS_CAP;
  return Math.max(
    1,
    Math.min(MAX_CLIENTS_CAP, Math.floor(Number(soft) * 3 / 4)),
  );
}

function readLimits(): string | undefined {
  try {
    return Deno.readTextFileSync("/proc/self/limits");
  } catch {
    return undefined; // not Linux, or no read permission there
  }
}

/** Checks the limits (TypeError/RangeError naming the option) and fills in defaults. */
export function resolveLimits(
  where: string,
  options: ConnectionLimits = {},
): ResolvedLimits {
  const given = checkOptionNames(options, { where, names: LIMIT_NAMES });
  const limits = {
    headerTimeout: seconds(
      where,
      given,
      "headerTimeout",
      LIMIT_DEFAULTS.headerTimeout,
    ),
    keepAliveTimeout: seconds(
      where,
      given,
      "keepAliveTimeout",
      LIMIT_DEFAULTS.keepAliveTimeout,
    ),
    socketTimeout: seconds(
      where,
      given,
      "socketTimeout",
      LIMIT_DEFAULTS.socketTimeout,
    ),
    maxClients: 0,
  };
  limits.maxClients = given.maxClients === undefined
    ? maxClientsFromLimits(readLimits())
    : count(where, given, "maxClients", 0, 1);
  return limits;
}

/** Why a connection was closed before its client closed it. */
export type Expiry = "header" | "keep-alive" | "socket";

/**
 * One connection's deadline. A new connection has `headerTimeout` to
 * deliver a whole request head; while requests run (the handler has not
 * answered yet) there is no deadline here (requestTimeout and body-timeout
 * bound those); while a response is being sent, each sign of progress
 * gives it `socketTimeout` more; once nothing is in flight, the next head
 * must be complete within `keepAliveTimeout`. Times in milliseconds from
 * any fixed origin (performance.now()).
 */
export class ConnectionClock {
  /** When the connection expires; Infinity while a handler runs. */
  deadline: number;
  /** Which limit `deadline` is. */
  expiry: Expiry;
  #running = 0;
  #sending = 0;
  #limits: ResolvedLimits;

  constructor(limits: ResolvedLimits, now: number) {
    this.#limits = limits;
    this.expiry = "header";
    this.deadline = limits.headerTimeout > 0
      ? now + limits.headerTimeout * 1000
      : Infinity;
  }

  /** Requests whose response has not been sent completely. */
  get inFlight(): number {
    return this.#running + this.#sending;
  }

  /** A request head arrived and its handler was called. */
  started(): void {
    this.#running++;
    this.deadline = Infinity;
  }

  /** The handler answered; its response is now being sent. */
  answered(now: number): void {
    this.#running--;
    this.#sending++;
    this.progress(now);
  }

  /** The client took part of a response: the socket timeout starts again. */
  progress(now: number): void {
    if (this.#running > 0) return;
    this.expiry = "socket";
    this.deadline = this.#limits.socketTimeout > 0
      ? now + this.#limits.socketTimeout * 1000
      : Infinity;
  }

  /**
   * A request ended: its response was sent (or failed), or its handler
   * threw. Returns true when the connection is now idle.
   */
  ended(now: number, wasAnswered: boolean): boolean {
    if (wasAnswered) this.#sending--;
    else this.#running--;
    if (this.#running > 0) return false;
    if (this.#sending > 0) {
      this.progress(now);
      return false;
    }
    this.expiry = "keep-alive";
    this.deadline = now + this.#limits.keepAliveTimeout * 1000;
    return true;
  }

  /** The limit that has run out at `now`, if any. */
  expired(now: number): Expiry | undefined {
    return now >= this.deadline ? this.expiry : undefined;
  }
}

/**
 * How often the deadlines are looked at: a quarter of the shortest limit
 * in use, between 50 ms and 1 s, so a connection is closed at most a
 * quarter late.
 */
export function sweepInterval(limits: ResolvedLimits): number {
  const used = [
    limits.headerTimeout,
    limits.keepAliveTimeout,
    limits.socketTimeout,
  ].filter((value) => value > 0);
  if (used.length === 0) return 1000;
  return Math.min(1000, Math.max(50, Math.min(...used) * 250));
}
