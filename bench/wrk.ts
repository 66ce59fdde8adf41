/**
 * Runs wrk (Debian's package) with a fixed number of connections, threads
 * and seconds, and reads its report into a typed result.
 *
 * @module
 */

/** Options of `runWrk()`. */
export interface WrkOptions {
  /** Open connections (wrk -c). Default 64. */
  connections?: number;
  /** wrk's threads (wrk -t). Default 1. */
  threads?: number;
  /** Seconds of load (wrk -d, whole seconds). Default 5. */
  durationSeconds?: number;
  /** A request slower than this counts as a timeout error (wrk --timeout). Default 10. */
  timeoutSeconds?: number;
  /** HTTP method. Default "GET", or "POST" when there is a body. */
  method?: string;
  /** A request body of this many bytes ("x" repeated), sent with every request. */
  bodyBytes?: number;
  /** Request headers. */
  headers?: Record<string, string>;
  /** The wrk binary. Default "wrk" on PATH. */
  binary?: string;
}

/** What wrk measured; latencies in milliseconds. */
export interface WrkResult {
  /** The URL that was loaded. */
  url: string;
  /** Connections, threads and seconds of the run. */
  connections: number;
  threads: number;
  durationSeconds: number;
  /** Completed requests. */
  requests: number;
  /** Requests per second over the run. */
  requestsPerSecond: number;
  /** Bytes per second read from the server (headers and bodies). */
  transferBytesPerSecond: number;
  /** Latency percentiles and mean, in ms (from `--latency`). */
  latencyMs: {
    mean: number;
    p50: number;
    p75: number;
    p90: number;
    p99: number;
    max: number;
  };
  /** Responses with a status other than 2xx or 3xx. */
  non2xx: number;
  /** wrk's socket errors: connect, read, write and timeouts. */
  socketErrors: {
    connect: number;
    read: number;
    write: number;
    timeout: number;
  };
}

const TIME_UNITS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
};

/** Parses one of wrk's durations, like "812.00us", "1.23ms" or "2.00s", into ms. */
export function parseWrkDuration(text: string): number {
  const match = text.match(/^([\d.]+)(us|ms|s|m|h)$/);
  if (!match) throw new Error(`not a wrk duration: "${text}"`);
  return Number(match[1]) * TIME_UNITS[match[2]];
}

function parseSize(text: string): number {
  const match = text.match(/^([\d.]+)(B|KB|MB|GB|TB)$/);
  if (!match) throw new Error(`not a wrk size: "${text}"`);
  return Number(match[1]) * SIZE_UNITS[match[2]];
}

/**
 * Reads the report that `wrk --latency` prints. Throws, quoting the
 * report, when a required figure is missing.
 */
export function parseWrkOutput(
  text: string,
): Omit<WrkResult, "url" | "connections" | "threads" | "durationSeconds"> {
  const need = (pattern: RegExp, what: string): string => {
    const match = text.match(pattern);
    if (!match) throw new Error(`wrk's report has no ${what}:\n${text}`);
    return match[1];
  };
  const percentile = (p: number) =>
    parseWrkDuration(
      need(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m"), `${p}% latency`),
    );
  const latencyLine = text.match(/^\s+Latency\s+(\S+)\s+\S+\s+(\S+)/m);
  const socket = text.match(
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/,
  );
  return {
    requests: Number(need(/(\d+) requests in/, "request count")),
    requestsPerSecond: Number(
      need(/Requests\/sec:\s+([\d.]+)/, "Requests/sec"),
    ),
    transferBytesPerSecond: parseSize(
      need(/Transfer\/sec:\s+(\S+)/, "Transfer/sec"),
    ),
    latencyMs: {
      mean: latencyLine ? parseWrkDuration(latencyLine[1]) : NaN,
      p50: percentile(50),
      p75: percentile(75),
      p90: percentile(90),
      p99: percentile(99),
      max: latencyLine ? parseWrkDuration(latencyLine[2]) : NaN,
    },
    non2xx: Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0),
    socketErrors: {
      connect: Number(socket?.[1] ?? 0),
      read: Number(socket?.[2] ?? 0),
      write: Number(socket?.[3] ?? 0),
      timeout: Number(socket?.[4] ?? 0),
    },
  };
}

function luaString(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, "\\n")}"`;
}

/** The Lua script that sets the method, headers and body, or undefined for a plain GET. */
export function wrkScript(options: WrkOptions): string | undefined {
  const bodyBytes = options.bodyBytes ?? 0;
  const method = options.method ?? (bodyBytes > 0 ? "POST" : "GET");
  const headers = options.headers ?? {};
  if (
    method === "GET" && bodyBytes === 0 && Object.keys(headers).length === 0
  ) {
    return undefined;
  }
  const lines = [`wrk.method = ${luaString(method)}`];
  for (const [name, value] of Object.entries(headers)) {
    lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  }
  if (bodyBytes > 0) {
    lines.push(`wrk.body = string.rep("x", ${bodyBytes})`);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
      lines.push(`wrk.headers["Content-Type"] = "application/octet-stream"`);
    }
  }
  return lines.join("\n") + "\n";
}

/**
 * Runs `wrk -t<threads> -c<connections> -d<seconds>s --latency url`, with
 * a Lua script in a temporary file for other methods, headers or a body,
 * and returns what it measured. wrk is killed if it runs 30 s past its
 * duration.
 *
 * @example
 * ```ts ignore
 * const hello = await runWrk("http://127.0.0.1:8400/", { connections: 64 });
 * const upload = await runWrk("http://127.0.0.1:8400/", { bodyBytes: 1 << 20 });
 * console.log(hello.requestsPerSecond, upload.latencyMs.p99);
 * ```
 */
export async function runWrk(
  url: string,
  options: WrkOptions = {},
): Promise<WrkResult> {
  const connections = options.connections ?? 64;
  const threads = Math.min(options.threads ?? 1, connections);
  const durationSeconds = options.durationSeconds ?? 5;
  if (!Number.isInteger(durationSeconds) || durationSeconds < 1) {
    throw new Error(
      `wrk's duration must be whole seconds >= 1, not ${durationSeconds}`,
    );
  }
  const script = wrkScript(options);
  let scriptFile: string | undefined;
  if (script) {
    scriptFile = await Deno.makeTempFile({
      prefix: "bench-wrk-",
      suffix: ".lua",
    });
    await Deno.writeTextFile(scriptFile, script);
  }
  const args = [
    `-t${threads}`,
    `-c${connections}`,
    `-d${durationSeconds}s`,
    `--timeout`,
    `${options.timeoutSeconds ?? 10}s`,
    "--latency",
    ...(scriptFile ? ["-s", scriptFile] : []),
    url,
  ];
  const binary = options.binary ?? "wrk";
  try {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(binary, {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      throw new Error(
        `wrk could not run (${
          (error as Error).message
        }); install it with: apt-get install -y wrk`,
      );
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, (durationSeconds + 30) * 1000);
    const output = await child.output().finally(() => clearTimeout(timer));
    const stdout = new TextDecoder().decode(output.stdout);
    if (!output.success) {
      throw new Error(
        `wrk ${args.join(" ")} failed (${
          output.signal
            ? `killed by ${output.signal}`
            : `exit code ${output.code}`
        }):\n${stdout}${new TextDecoder().decode(output.stderr)}`,
      );
    }
    return {
      url,
      connections,
      threads,
      durationSeconds,
      ...parseWrkOutput(stdout),
    };
  } finally {
    if (scriptFile) await Deno.remove(scriptFile).catch(() => {});
  }
}
