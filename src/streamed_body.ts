/**
 * A request body streamed into Python (`requestBuffering: false`): read
 * from the client only as the app reads it, with `limitRequestBody`
 * counted as it streams and `bodyTimeout` running from the app's first
 * read.
 *
 * @module
 */

import {
  BodyDeadline,
  type BodyError,
  type BodySettings,
} from "./body_limits.ts";

/**
 * The body as Python reads it, without buffering: limitRequestBody is
 * counted as it streams, and bodyTimeout runs from the app's first read.
 */
export function streamBody(
  stream: ReadableStream<Uint8Array>,
  settings: BodySettings,
  onFailure?: (error: BodyError) => void,
): ReadableStreamDefaultReader<Uint8Array> {
  const source = stream.getReader();
  let deadline: BodyDeadline | undefined;
  const fail = (
    controller: ReadableStreamDefaultController<Uint8Array>,
    error: BodyError,
  ) => {
    deadline?.stop();
    source.cancel().catch(() => {});
    onFailure?.(error);
    controller.error(error);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      deadline ??= new BodyDeadline(
        settings,
        () => void source.cancel().catch(() => {}),
      );
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await source.read();
      } catch (error) {
        if (!deadline.expired) {
          deadline.stop();
          controller.error(error);
          return;
        }
        result = { done: true, value: undefined };
      }
      if (deadline.expired) return fail(controller, deadline.timedOut());
      if (result.done) {
        deadline.stop();
        controller.close();
        return;
      }
      const tooLarge = deadline.count(result.value.byteLength);
      if (tooLarge) return fail(controller, tooLarge);
      controller.enqueue(result.value);
    },
    cancel() {
      deadline?.stop();
      return source.cancel();
    },
  }, { highWaterMark: 0 }).getReader();
}
