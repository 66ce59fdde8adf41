/**
 * The gateway's log: one place where Python tracebacks, `print()` output,
 * `wsgi.errors` and the gateway's own events end up, in the shape of
 * mod_wsgi's error log lines.
 *
 * @module
 */

/**
 * Severity of a log entry, as Apache's LogLevel names them.
 *
 * @example
 * ```ts
 * import type { LogLevel } from "../mod.ts";
 * const level: LogLevel = "warn";
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * One line (or one multi-line traceback) of the gateway's log.
 *
 * @example
 * ```ts
 * import { formatLogEntry, type LogEntry } from "../mod.ts";
 * const entry: LogEntry = {
 *   time: new Date(0),
 *   level: "error",
 *   message: "boom",
 *   group: "shop",
 * };
 * console.log(formatLogEntry(entry));
 * ```
 */
export interface LogEntry {
  /** When the entry was made. */
  time: Date;
  /** How severe it is. */
  level: LogLevel;
  /** The mount prefix the entry belongs to, if any (like mod_wsgi's prefix). */
  mount?: string;
  /** The process group the entry belongs to, if any. */
  group?: string;
  /** The text; tracebacks keep their newlines. */
  message: string;
}

/**
 * Where log entries go, and which are kept.
 *
 * @example Only warnings and errors, as JSON lines
 * ```ts
 * import { configureLogging, type LoggingOptions } from "../mod.ts";
 * const options: LoggingOptions = {
 *   level: "warn",
 *   sink: (entry) => console.log(JSON.stringify(entry)),
 * };
 * configureLogging(options);
 * configureLogging({});
 * ```
 */
export interface LoggingOptions {
  /** Entries below this level are dropped. Default "info", like mod_wsgi's guides use. */
  level?: LogLevel;
  /**
   * Receives each kept entry. Default: a mod_wsgi-style line on stderr.
   * Replace it to collect entries in tests or forward them elsewhere;
   * `null` restores the default.
   */
  sink?: ((entry: LogEntry) => void) | null;
}

const LEVEL_ORDER: Record<LogLevel, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
};

/**
 * Formats an entry like an Apache error-log line.
 *
 * @example
 * ```ts
 * import { formatLogEntry } from "../mod.ts";
 * const line = formatLogEntry({
 *   time: new Date("2026-01-01T00:00:00Z"),
 *   level: "info",
 *   message: "worker ready",
 *   group: "shop",
 * });
 * if (!line.includes("[wsgi:info]")) throw new Error(line);
 * ```
 */
export function formatLogEntry(entry: LogEntry): string {
  const where = [
    entry.group ? `[group ${entry.group}]` : "",
    entry.mount !== undefined ? `[mount ${entry.mount || "/"}]` : "",
  ].filter(Boolean).join(" ");
  return `[${entry.time.toISOString()}] [wsgi:${entry.level}] ${where}${
    where ? " " : ""
  }${entry.message}`;
}

function writeToStderr(entry: LogEntry): void {
  const text = formatLogEntry(entry) + "\n";
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  } catch {
    // A closed stderr must never fail a request.
  }
}

let threshold: number = LEVEL_ORDER.info;
let currentSink: (entry: LogEntry) => void = writeToStderr;

/**
 * Sets where the gateway logs and from which level on. Applies to every
 * mount and group in this process; worker output is forwarded here.
 *
 * @example Collect log lines in memory
 * ```ts
 * import { configureLogging, type LogEntry } from "../mod.ts";
 * const lines: LogEntry[] = [];
 * configureLogging({ level: "debug", sink: (entry) => lines.push(entry) });
 * configureLogging({}); // back to stderr at "info"
 * ```
 */
export function configureLogging(options: LoggingOptions = {}): void {
  if (options.level !== undefined) {
    if (!(options.level in LEVEL_ORDER)) {
      throw new TypeError(
        `configureLogging: option "level" must be one of ${
          Object.keys(LEVEL_ORDER).join(", ")
        }, got ${JSON.stringify(options.level)}`,
      );
    }
    threshold = LEVEL_ORDER[options.level];
  }
  if ("sink" in options) {
    if (options.sink === undefined || options.sink === null) {
      currentSink = writeToStderr;
    } else if (typeof options.sink !== "function") {
      throw new TypeError(
        `configureLogging: option "sink" must be a function taking a LogEntry`,
      );
    } else {
      currentSink = options.sink;
    }
  }
}

/** Logs one entry, if its level passes the threshold. */
export function log(
  level: LogLevel,
  message: string,
  where: { mount?: string; group?: string } = {},
): void {
  if (LEVEL_ORDER[level] < threshold) return;
  try {
    currentSink({ time: new Date(), level, message, ...where });
  } catch {
    // A failing sink must not take a request down with it.
  }
}
