/**
 * Entry point of an embedded group's watchdog: a small Web Worker that
 * enforces requestTimeout for Python running in the server's own isolate.
 * That isolate cannot interrupt itself while Python holds its thread; this
 * one can, through Pyodide's interrupt flag, which they share.
 *
 * Shared words (Int32): [0] the interrupt flag, [1] when the running
 * request started (ms since `base`, plus 1; 0 when none runs), [2] set to 1
 * when the watchdog interrupted it.
 *
 * @module
 */

/**
 * This Web Worker's global scope. Typed here rather than with
 * `/// <reference lib="deno.worker" />`, which JSR refuses in a published
 * module (it would change the global types of every importer).
 */
const scope = self as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  close(): void;
  onmessage: ((event: MessageEvent<WatchdogSetup>) => void) | null;
};

/** What the watchdog is told once. */
export interface WatchdogSetup {
  flags: SharedArrayBuffer;
  /** The epoch of word [1], in ms since the Unix epoch. */
  base: number;
  timeoutMs: number;
}

scope.onmessage = (event: MessageEvent<WatchdogSetup>) => {
  const { flags, base, timeoutMs } = event.data;
  const words = new Int32Array(flags);
  // Checking a few times a second costs nothing measurable and keeps the
  // timeout within a tenth of a second of the setting.
  const every = Math.max(10, Math.min(100, timeoutMs / 4));
  setInterval(() => {
    const started = Atomics.load(words, 1);
    if (started === 0 || Atomics.load(words, 2) === 1) return;
    if (Date.now() - base - (started - 1) < timeoutMs) return;
    Atomics.store(words, 2, 1);
    // SIGINT for Pyodide; the notify wakes a time.sleep() waiting on it.
    Atomics.store(words, 0, 2);
    Atomics.notify(words, 0);
  }, every);
};
