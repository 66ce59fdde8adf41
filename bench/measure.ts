/**
 * What the benchmark measures with: wrk (load, latency), one streamed
 * upload, and /proc (process trees, their memory, the machine's CPU time).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { once } from "node:events";
import { type IncomingMessage, request as httpRequest } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { descendants } from "../tests/process_tree.ts";

const PERCENTILES = ["p50", "p75", "p90", "p99"] as const;
const SOCKET_ERRORS = ["connect", "read", "write", "timeout"] as const;

/** One measured run, latencies in milliseconds. */
export interface LoadResult {
  url: string;
  connections: number;
  threads: number;
  durationSeconds: number;
  requests: number;
  requestsPerSecond: number;
  transferBytesPerSecond: number;
  latencyMs: Record<"mean" | typeof PERCENTILES[number] | "max", number>;
  /** Responses with a status other than 2xx or 3xx. */
  non2xx: number;
  socketErrors: Record<typeof SOCKET_ERRORS[number], number>;
}

/** Latencies: the mean, each percentile and the maximum. */
function latencies(
  { mean, max }: { mean: number; max: number },
  percentile: (p: number) => number,
): LoadResult["latencyMs"] {
  const ranks = PERCENTILES.map((p) => [p, percentile(Number(p.slice(1)))]);
  return { mean, ...Object.fromEntries(ranks), max } as LoadResult["latencyMs"];
}

/** Socket errors by kind, in wrk's order; none when `counts` is empty. */
function socketErrors(counts: number[] = []): LoadResult["socketErrors"] {
  const kinds = SOCKET_ERRORS.map((kind, i) => [kind, counts[i] ?? 0]);
  return Object.fromEntries(kinds) as LoadResult["socketErrors"];
}

/** How one run loads a server. */
export interface LoadOptions {
  connections: number;
  threads: number;
  durationSeconds: number;
  /** A POST body of this many bytes ("x" repeated) with every request. */
  bodyBytes?: number;
}

const MS = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const BYTES = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const UNITS: Record<string, number> = { ...MS, ...BYTES };

/** Reads one of wrk's figures with its unit: "812.00us" (in ms), "1.5MB" (in bytes). */
export function parseWrkUnit(text: string): number {
  const match = text.match(/^([\d.]+)([a-zA-Z]+)$/);
  if (!match || !(match[2] in UNITS)) {
    throw new Error(`not a wrk figure: "${text}"`);
  }
  return Number(match[1]) * UNITS[match[2]];
}

/** Reads the report of `wrk --latency`; throws, quoting it, when a figure is missing. */
export function parseWrkOutput(
  text: string,
): Omit<LoadResult, "url" | "connections" | "threads" | "durationSeconds"> {
  const need = (pattern: RegExp, what: string): string => {
    const match = text.match(pattern);
    if (!match) throw new Error(`wrk's report has no ${what}:\n${text}`);
    return match[1];
  };
  const percentile = (p: number) =>
    parseWrkUnit(need(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m"), `${p}%`));
  const latency = text.match(/^\s+Latency\s+(\S+)\s+\S+\s+(\S+)/m);
  const socket = text.match(
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/,
  )?.slice(1).map(Number);
  return {
    requests: Number(need(/(\d+) requests in/, "request count")),
    requestsPerSecond: Number(need(/Requests\/sec:\s+([\d.]+)/, "req/s")),
    transferBytesPerSecond: parseWrkUnit(
      need(/Transfer\/sec:\s+(\S+)/, "Transfer/sec"),
    ),
    latencyMs: latencies({
      mean: latency ? parseWrkUnit(latency[1]) : NaN,
      max: latency ? parseWrkUnit(latency[2]) : NaN,
    }, percentile),
    non2xx: Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0),
    socketErrors: socketErrors(socket),
  };
}

/**
 * Runs `wrk -tT -cC -dDs --timeout 10s --latency url`, with a Lua script
 * for a POST body; kills wrk 30 s past its duration.
 */
export async function runWrk(
  url: string,
  options: LoadOptions,
): Promise<LoadResult> {
  const { connections, durationSeconds } = options;
  const threads = Math.min(options.threads, connections);
  let script: string | undefined;
  if (options.bodyBytes) {
    script = await Deno.makeTempFile({ prefix: "bench-wrk-", suffix: ".lua" });
    await Deno.writeTextFile(
      script,
      `wrk.method = "POST"\nwrk.body = string.rep("x", ${options.bodyBytes})\n` +
        `wrk.headers["Content-Type"] = "application/octet-stream"\n`,
    );
  }
  const args = [`-t${threads}`, `-c${connections}`, `-d${durationSeconds}s`]
    .concat(
      ["--timeout", "10s", "--latency"],
      script ? ["-s", script] : [],
      url,
    );
  try {
    const output = await new Deno.Command("wrk", {
      args,
      stdin: "null",
      signal: AbortSignal.timeout((durationSeconds + 30) * 1000),
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    if (!output.success) {
      throw new Error(
        `wrk ${args.join(" ")} failed (${output.signal ?? output.code}):\n` +
          stdout + new TextDecoder().decode(output.stderr),
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
    if (script) await Deno.remove(script).catch(() => {});
  }
}

/** `bytes` zero bytes in 1 MiB blocks. */
function* zeros(bytes: number): Generator<Uint8Array> {
  const block = new Uint8Array(1024 * 1024);
  for (let left = bytes; left > 0; left -= block.length) {
    yield block.subarray(0, Math.min(left, block.length));
  }
}

/**
 * POSTs `bytes` zero bytes to `url` with a Content-Length (mod_wsgi refuses
 * chunked bodies by default), each block written once the socket has
 * drained so that nothing piles up on this side, and times it to the end
 * of the answer, which `check` sees.
 */
export async function streamUpload(
  url: string,
  bytes: number,
  check: (status: number, body: Uint8Array) => string | undefined,
): Promise<LoadResult> {
  const started = performance.now();
  const request = httpRequest(url, {
    method: "POST",
    headers: {
      "content-length": String(bytes),
      "content-type": "application/octet-stream",
    },
  });
  const answered = once(request, "response");
  await pipeline(Readable.from(zeros(bytes)), request);
  const [response] = await answered as [IncomingMessage];
  const parts: Uint8Array[] = [];
  for await (const part of response) parts.push(part);
  const ms = performance.now() - started;
  const status = response.statusCode ?? 0;
  const problem = check(status, Buffer.concat(parts));
  if (problem) throw new Error(`wrong response: ${problem}`);
  return {
    url,
    connections: 1,
    threads: 1,
    durationSeconds: ms / 1000,
    requests: 1,
    requestsPerSecond: 1000 / ms,
    transferBytesPerSecond: bytes / (ms / 1000),
    latencyMs: latencies({ mean: ms, max: ms }, () => ms),
    non2xx: status >= 400 ? 1 : 0,
    socketErrors: socketErrors(),
  };
}

// /proc (Linux only)

function readStat(
  pid: number,
): { state: string; ppid: number; fields: string[] } | undefined {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0], ppid: Number(fields[1]), fields };
  } catch {
    return undefined;
  }
}

/** The parent of `pid`, or undefined once it has exited. */
export const parentOf = (pid: number) => readStat(pid)?.ppid;

/** The process `root` and all its descendants; empty when `root` is gone. */
export const processTree = (root: number): number[] =>
  readStat(root) ? [root, ...descendants(root)] : [];

/** A process as it was: the start time tells a reused pid apart. */
interface ProcessId {
  pid: number;
  start: string;
}

function alive({ pid, start }: ProcessId): boolean {
  const stat = readStat(pid);
  // A zombie has exited; its parent (maybe init) has yet to reap it.
  return stat?.fields[19] === start && stat.state !== "Z";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Ends `child` and its whole tree, read before the signal so that
 * re-parented children count too: SIGTERM, up to 10 s for all to exit,
 * then SIGKILL. Throws when one survives.
 */
export async function stopTree(child: Deno.ChildProcess): Promise<void> {
  const tree: ProcessId[] = processTree(child.pid).flatMap((pid) => {
    const start = readStat(pid)?.fields[19];
    return start ? [{ pid, start }] : [];
  });
  const signal = (id: ProcessId, name: Deno.Signal) => {
    try {
      if (alive(id)) Deno.kill(id.pid, name);
    } catch {
      // gone meanwhile
    }
  };
  const gone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (tree.some(alive) && Date.now() < deadline) await sleep(50);
    return !tree.some(alive);
  };
  if (tree.length) signal(tree[0], "SIGTERM");
  if (!await gone(10_000)) {
    for (const id of tree) signal(id, "SIGKILL");
    await gone(5_000);
  }
  await child.status;
  const left = tree.filter(alive).map((id) => id.pid);
  if (left.length) throw new Error(`processes ${left} survived SIGKILL`);
}

/**
 * Memory of processes, summed: VmRSS, VmHWM (each one's own peak) and PSS
 * (shared pages split between their sharers; undefined when
 * /proc/PID/smaps_rollup was unreadable).
 */
export interface TreeMemory {
  rssBytes: number;
  hwmBytes: number;
  pssBytes?: number;
  processes: number;
}

function kilobytes(path: string, key: string): number | undefined {
  try {
    const match = Deno.readTextFileSync(path).match(
      new RegExp(`^${key}:\\s+(\\d+) kB`, "m"),
    );
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The memory of `root`'s process tree now (of `pids` alone when given). */
export function treeMemory(root: number, pids = processTree(root)): TreeMemory {
  const memory = { rssBytes: 0, hwmBytes: 0, pssBytes: 0, processes: 0 };
  for (const pid of pids) {
    const rss = kilobytes(`/proc/${pid}/status`, "VmRSS");
    if (rss === undefined) continue; // exited meanwhile
    memory.processes++;
    memory.rssBytes += rss;
    memory.hwmBytes += kilobytes(`/proc/${pid}/status`, "VmHWM") ?? 0;
    const pss = kilobytes(`/proc/${pid}/smaps_rollup`, "Pss");
    memory.pssBytes += pss ?? NaN;
  }
  const { pssBytes } = memory;
  return { ...memory, pssBytes: Number.isNaN(pssBytes) ? undefined : pssBytes };
}

/** The larger of two figures, either of which may be unknown. */
export const max = (a?: number, b?: number) =>
  a === undefined || b === undefined ? a ?? b : Math.max(a, b);

/** A sampler of a process tree's memory, every 200 ms, that keeps the peak. */
export class MemoryWatch {
  #best!: TreeMemory;
  #timer = setInterval(() => this.#sample(), 200);
  constructor(readonly root: number) {
    this.reset();
  }
  #sample(): void {
    const now = treeMemory(this.root);
    const best = this.#best;
    this.#best = {
      rssBytes: Math.max(best.rssBytes, now.rssBytes),
      hwmBytes: Math.max(best.hwmBytes, now.hwmBytes),
      pssBytes: max(best.pssBytes, now.pssBytes),
      processes: Math.max(best.processes, now.processes),
    };
  }
  /** The peaks since the start or the last reset. */
  peak(): TreeMemory {
    this.#sample();
    return { ...this.#best };
  }
  reset(): void {
    this.#best = { rssBytes: 0, hwmBytes: 0, processes: 0 };
    this.#sample();
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * CPU seconds of a process tree: the sum over its threads of the time on
 * a CPU from /proc/PID/task/TID/schedstat (nanoseconds, where stat's
 * utime and stime count 10 ms ticks).
 */
export function treeCpuSeconds(root: number): number {
  let nanoseconds = 0;
  for (const pid of processTree(root)) {
    try {
      for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
        const text = Deno.readTextFileSync(
          `/proc/${pid}/task/${task.name}/schedstat`,
        );
        nanoseconds += Number(text.split(" ")[0]);
      }
    } catch {
      // exited meanwhile
    }
  }
  return nanoseconds / 1e9;
}

/** CPU time now, in clock ticks: the machine's busy and total, and this process tree's. */
export interface CpuTicks {
  busy: number;
  total: number;
  ours: number;
}

export function cpuTicks(): CpuTicks {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = Deno
    .readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/)
    .slice(1).map(Number);
  // Interrupts are left out of "busy": loopback traffic is handled in
  // softirqs that no process is charged for.
  const busy = user + nice + system + (steal ?? 0);
  let ours = 0;
  for (const pid of processTree(Deno.pid)) {
    // utime, stime, cutime, cstime: children waited for (a finished wrk) count.
    const fields = readStat(pid)?.fields ?? [];
    ours += fields.slice(11, 15).reduce((sum, n) => sum + Number(n), 0);
  }
  return { busy, total: busy + idle + iowait + irq + softirq, ours };
}

/**
 * The share of the machine (0-100 %) that went to processes outside this
 * tree between two readings: how much a neighbour may have disturbed a run.
 */
export function otherCpuPercent(before: CpuTicks, after: CpuTicks): number {
  const total = after.total - before.total;
  const other = (after.busy - before.busy) - (after.ours - before.ours);
  return total <= 0 ? 0 : Math.max(0, (other / total) * 100);
}

/** The load average's three figures, printed beside every measurement. */
export const loadAverage = () =>
  Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

/** The median; of an even count, the lower of the two middle values. */
export const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
