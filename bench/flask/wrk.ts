/**
 * Runs wrk against a URL and reads its summary.
 *
 * @module
 */

/** What wrk measured. */
export interface WrkResult {
  requestsPerSecond: number;
  p50: string;
  p99: string;
  /** Responses that were not 2xx or 3xx. */
  non2xx: number;
  /** Socket errors: connect, read, write, and requests over wrk's 2 s timeout. */
  socketErrors: number;
}

/**
 * Runs `wrk -t<threads> -c<connections> -d<seconds>s --latency url`.
 *
 * @example
 * ```ts ignore
 * const { requestsPerSecond } = await runWrk("http://127.0.0.1:8000/", { seconds: 5 });
 * ```
 */
export async function runWrk(
  url: string,
  options: {
    seconds?: number;
    connections?: number;
    threads?: number;
    /** A wrk Lua script, e.g. to POST a body. */
    script?: string;
  } = {},
): Promise<WrkResult> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("wrk", {
      args: [
        `-t${options.threads ?? 1}`,
        `-c${options.connections ?? 16}`,
        `-d${options.seconds ?? 5}s`,
        "--latency",
        ...(options.script ? ["-s", options.script] : []),
        url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new Error(
      `wrk could not run (${
        (error as Error).message
      }); install it with: apt-get install -y wrk`,
    );
  }
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `wrk failed on ${url}: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  const non2xx = Number(
    text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0,
  );
  const socket = text.match(
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/,
  );
  const socketErrors = socket
    ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0)
    : 0;
  return {
    requestsPerSecond: Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1]),
    p50: text.match(/\s50%\s+(\S+)/)?.[1] ?? "?",
    p99: text.match(/\s99%\s+(\S+)/)?.[1] ?? "?",
    non2xx,
    socketErrors,
  };
}
