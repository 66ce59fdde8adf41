/**
 * Test helpers: real servers on loopback, a raw HTTP/1.1 client for what
 * fetch() would normalize, and a log collector.
 *
 * @module
 */

import {
  configureLogging,
  createRouter,
  defineGroup,
  type GroupOptions,
  type LogEntry,
  type MountOptions,
  mountWsgi,
} from "../mod.ts";

/** True when something exists at `path`. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A child process whose stdout and stderr are gathered as text as they come. */
export interface CollectedProcess {
  child: Deno.ChildProcess;
  /** Everything it printed so far, both streams interleaved. */
  output(): string;
  /** Resolves once both streams are drained (after the process ended). */
  drained: Promise<unknown>;
}

/** Spawns a command with both output streams piped into one text. */
export function spawnCollected(
  command: string,
  options: Omit<Deno.CommandOptions, "stdout" | "stderr">,
): CollectedProcess {
  const child = new Deno.Command(command, {
    ...options,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
    }
  };
  const drained = Promise.all([pump(child.stdout), pump(child.stderr)]);
  return { child, output: () => text, drained };
}

/** One body chunk as a client saw it: when (ms after the request) and what. */
export interface Arrival {
  at: number;
  text: string;
}

/**
 * Fetches `url` from a child process and reports when each body chunk
 * arrived. An embedded server runs Python on the test's own thread, so a
 * client there would be blocked by every `time.sleep` of the app and see
 * all chunks at once, whatever the server wrote.
 */
export async function chunkArrivals(
  url: string,
): Promise<{ contentType: string | null; arrivals: Arrival[] }> {
  const client = `
    const started = performance.now();
    const response = await fetch(${JSON.stringify(url)});
    const arrivals = [];
    for await (const chunk of response.body.pipeThrough(new TextDecoderStream())) {
      arrivals.push({ at: performance.now() - started, text: chunk });
    }
    const contentType = response.headers.get("content-type");
    console.log(JSON.stringify({ contentType, arrivals }));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", client],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`the client failed on ${url}`);
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

/** A running `start-server`, its start-up report read up to "ready after". */
export interface RunningServer {
  /** The URLs it printed, in order. */
  urls: string[];
  /** Everything it printed so far. */
  output(): string;
  child: Deno.ChildProcess;
  /** Sends the signal (unless it has exited) and waits for its exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/**
 * Starts `deno run -A cli.ts start-server ...args` as a user would, and
 * waits for "ready after". `fileLimit` runs it under `ulimit -n` (bash's
 * `exec` keeps the PID, so signals reach deno itself).
 */
export async function startServerCommand(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; fileLimit?: number } =
    {},
): Promise<RunningServer> {
  const command = ["run", "-A", "--quiet", CLI, "start-server", ...args];
  const { child, output, drained: pumps } = options.fileLimit === undefined
    ? spawnCollected(Deno.execPath(), {
      args: command,
      cwd: options.cwd,
      env: options.env,
    })
    : spawnCollected("bash", {
      args: [
        "-c",
        `ulimit -n ${options.fileLimit} && exec "$0" "$@"`,
        Deno.execPath(),
        ...command,
      ],
      cwd: options.cwd,
      env: options.env,
    });
  const exited = child.status;
  let done = false;
  exited.then(() => done = true);
  await waitFor(
    () => /^ready after/m.test(output()) || done,
    120_000,
    "the start-up report",
  );
  if (!/^ready after/m.test(output())) {
    throw new Error(`start-server exited during start-up:\n${output()}`);
  }
  return {
    urls: [...output().matchAll(/listening on (\S+)/g)].map((m) => m[1]),
    output,
    child,
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!done) child.kill(signal);
      const status = await exited;
      await pumps;
      return status;
    },
  };
}

/**
 * The port a child server prints as its first line on stdout (the
 * stream stays the child's: the reader's lock is released).
 */
export async function printedPort(child: Deno.ChildProcess): Promise<number> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const port = Number(value?.trim());
  if (!(port > 0)) throw new Error(`no port: ${value}`);
  return port;
}

/** Absolute path of a file under tests/apps/. */
export function appPath(name: string): string {
  return new URL(`./apps/${name}`, import.meta.url).pathname;
}

/** A server started for a test. */
export interface TestServer {
  base: string;
  port: number;
  close(): Promise<void>;
}

/** Serves a fetch handler on 127.0.0.1 with a free port. */
export function serve(
  handler: (
    request: Request,
    info: Deno.ServeHandlerInfo,
  ) => Response | Promise<Response>,
): TestServer {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler,
  );
  const port = server.addr.port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    close: () => server.shutdown(),
  };
}

/** What came back over the wire, headers in order and unjoined. */
export interface RawResponse {
  status: number;
  reason: string;
  headers: [string, string][];
  /** The body, de-chunked; bytes exactly as sent. */
  body: Uint8Array;
  /** The header section as latin-1 text. */
  head: string;
}

const latin1 = new TextDecoder("latin1");

function dechunk(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  while (offset < data.length) {
    let lineEnd = offset;
    while (
      lineEnd + 1 < data.length &&
      !(data[lineEnd] === 13 && data[lineEnd + 1] === 10)
    ) lineEnd++;
    const size = parseInt(latin1.decode(data.subarray(offset, lineEnd)), 16);
    if (!size) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Sends a request exactly as written (CRLFs added) and reads the response
 * to the end of the connection. Adds "Connection: close".
 */
export async function rawRequest(
  port: number,
  requestLine: string,
  headers: string[] = [],
  body?: Uint8Array,
): Promise<RawResponse> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = [
    requestLine,
    "Host: 127.0.0.1",
    ...headers,
    "Connection: close",
    "",
    "",
  ];
  await connection.write(new TextEncoder().encode(lines.join("\r\n")));
  if (body) await connection.write(body);
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  while (true) {
    const n = await connection.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  connection.close();
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  let split = 0;
  while (
    split + 3 < all.length &&
    !(all[split] === 13 && all[split + 1] === 10 && all[split + 2] === 13 &&
      all[split + 3] === 10)
  ) split++;
  const head = latin1.decode(all.subarray(0, split));
  const [statusLine, ...headerLines] = head.split("\r\n");
  const [, code, ...reason] = statusLine.split(" ");
  const parsed = headerLines.map((line) => {
    const colon = line.indexOf(":");
    return [
      line.slice(0, colon).toLowerCase(),
      line.slice(colon + 1).trim(),
    ] as [string, string];
  });
  let payload: Uint8Array = all.subarray(split + 4);
  if (parsed.some(([n, v]) => n === "transfer-encoding" && v === "chunked")) {
    payload = dechunk(payload);
  }
  return {
    status: Number(code),
    reason: reason.join(" "),
    headers: parsed,
    body: payload,
    head,
  };
}

/**
 * True once `text` holds a whole response with a Content-Length: Deno
 * keeps a connection open after answering a request whose body it did not
 * read to the end, so waiting for the close would wait for the client.
 */
export function responseComplete(text: string): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const length = text.slice(0, end).match(/\r\ncontent-length: *(\d+)/i);
  return length !== null && text.length - end - 4 >= Number(length[1]);
}

/** Collects log entries from now on; call stop() to restore stderr output. */
export function collectLogs(): {
  entries: LogEntry[];
  text(): string;
  stop(): void;
} {
  const entries: LogEntry[] = [];
  configureLogging({ level: "debug", sink: (entry) => entries.push(entry) });
  return {
    entries,
    text: () =>
      entries.map((e) => `[${e.level}] [${e.mount ?? ""}] ${e.message}`).join(
        "\n",
      ),
    stop: () => configureLogging({ level: "info", sink: null }),
  };
}

/** Waits until a condition holds, or fails after `ms`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  ms = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A group with mounts, ready, behind a server on loopback. */
export interface GroupServer {
  base: string;
  group: ReturnType<typeof defineGroup>;
  /** Stops the server, then the group. */
  close(): Promise<void>;
}

/**
 * Defines a group, mounts scripts in it on a fresh router, waits until its
 * workers are ready and serves the router on loopback.
 */
export async function serveGroup(
  name: string,
  options: GroupOptions,
  mounts: [prefix: string, script: string, mountOptions?: MountOptions][],
): Promise<GroupServer> {
  const group = defineGroup(name, options);
  const router = createRouter();
  for (const [prefix, script, mountOptions] of mounts) {
    mountWsgi(router, prefix, script, { group, ...mountOptions });
  }
  await group.ready();
  const server = serve(router.fetch);
  return {
    base: server.base,
    group,
    close: async () => {
      await server.close();
      await group.shutdown();
    },
  };
}
