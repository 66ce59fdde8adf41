/**
 * What a request body is held to, whichever way it is read (buffered or
 * streamed): `limitRequestBody`, and `bodyTimeout` with `bodyMinRate`;
 * the settings that carry them, and the errors, with the status the
 * client gets, when a body breaks them.
 *
 * @module
 */

import { StatusError } from "./responses.ts";

/** How a mount reads request bodies: mountWsgi's options, checked. */
export interface BodySettings {
  /** `limitRequestBody` in bytes; 0 = no limit. */
  limit: number;
  /** `requestBuffering`: read the whole body before Python is involved. */
  buffering: boolean;
  /** `bodyBufferSize`: bytes held in memory before the body goes to a file. */
  bufferSize: number;
  /** `bodyBufferFolder`: where those files go; undefined = the OS's temporary folder. */
  folder?: string;
  /** `bodyTimeout` in seconds; 0 = none. */
  timeout: number;
  /** `bodyMinRate` in bytes per second: each such many bytes add a second. */
  minRate: number;
}

/** Why a body could not be read, with the status the client gets. */
export class BodyError extends StatusError {}

/** A body grew past `limitRequestBody`. */
export class BodyTooLargeError extends BodyError {
  constructor(limit: number) {
    super(
      413,
      `the request body is larger than limitRequestBody (${limit} bytes)`,
    );
    this.name = "BodyTooLargeError";
  }
}

/** A body did not arrive within bodyTimeout (and its minimum-rate extension). */
export class BodyTimeoutError extends BodyError {
  constructor(settings: BodySettings, received: number) {
    super(
      408,
      `the request body did not arrive within bodyTimeout (${settings.timeout} s${
        settings.minRate > 0
          ? ` plus 1 s per ${settings.minRate} bytes received`
          : ""
      }); ${received} bytes came`,
    );
    this.name = "BodyTimeoutError";
  }
}

/**
 * mod_reqtimeout's body rule, as mod_wsgi-express sets it up
 * (`RequestReadTimeout body=15,MinRate=500`): the body has `timeout`
 * seconds from its first read, and every `minRate` bytes received add a
 * second. One timer per body, moved on only when it fires, so that a fast
 * upload costs no timer work per chunk.
 */
export class BodyDeadline {
  received = 0;
  expired = false;
  readonly #settings: BodySettings;
  readonly #start = performance.now();
  readonly #onExpire: () => void;
  #timer?: ReturnType<typeof setTimeout>;

  constructor(settings: BodySettings, onExpire: () => void) {
    this.#settings = settings;
    this.#onExpire = onExpire;
    if (settings.timeout > 0) this.#arm();
  }

  #at(): number {
    const { timeout, minRate } = this.#settings;
    const extra = minRate > 0 ? this.received / minRate : 0;
    return this.#start + (timeout + extra) * 1000;
  }

  #arm(): void {
    const left = this.#at() - performance.now();
    if (left <= 0) {
      this.#timer = undefined;
      this.expired = true;
      this.#onExpire();
      return;
    }
    this.#timer = setTimeout(() => this.#arm(), Math.ceil(left));
  }

  /** Counts a chunk received; the error when the body is now over limitRequestBody. */
  count(bytes: number): BodyTooLargeError | undefined {
    this.received += bytes;
    const { limit } = this.#settings;
    return limit > 0 && this.received > limit
      ? new BodyTooLargeError(limit)
      : undefined;
  }

  /** The error of a body whose deadline has expired. */
  timedOut(): BodyTimeoutError {
    return new BodyTimeoutError(this.#settings, this.received);
  }

  /** Stops the timer; the body was read, or failed otherwise. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
