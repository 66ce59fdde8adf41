/**
 * Benchmark, not a test: a 1 KiB and a 1 MiB file served through a static
 * alias (src/aliases.ts, bare and through `alias()` on a Hono app) and
 * through Apache's own `Alias` (Debian's apache2, mpm_event), in the same
 * run, driven by wrk with the same connections and duration. Prints a
 * Markdown table and writes the numbers to bench/results/static.json.
 *
 * Installs apache2 and wrk with apt-get when they are missing (as root).
 *
 * Usage: deno run -A bench/static_bench.ts [--connections 32] [--duration 5]
 *   [--threads 2] [--warmup 1] [--rounds 3]
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    connections: { type: "string", default: "32" },
    duration: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    warmup: { type: "string", default: "1" },
    rounds: { type: "string", default: "3" },
  },
});
const CONNECTIONS = Number(values.connections);
const DURATION_SECONDS = Number(values.duration);
const WRK_THREADS = Number(values.threads);
const WARMUP_SECONDS = Number(values.warmup);
const ROUNDS = Number(values.rounds);
const APACHE = "/usr/sbin/apache2";
const APACHE_MODULES = "/usr/lib/apache2/modules";
const FILES = [
  { label: "1 KiB", name: "small.bin", size: 1024 },
  { label: "1 MiB", name: "large.bin", size: 1024 * 1024 },
];

// ------------------------------------------------------------ installation

async function run(
  command: string,
  args: string[],
  { quiet = false } = {},
): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed (exit ${output.code}):\n${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  if (!quiet) console.error(stdout.trim().split("\n").slice(-1)[0]);
  return stdout;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function onPath(program: string): Promise<boolean> {
  const found = await new Deno.Command("sh", {
    args: ["-c", `command -v ${program}`],
    stdout: "null",
    stderr: "null",
  }).output();
  return found.success;
}

/** Installs apache2 and wrk from Debian when missing; apt-get update once. */
async function ensureTools(): Promise<void> {
  const missing: string[] = [];
  if (!await exists(APACHE)) missing.push("apache2");
  if (!await onPath("wrk")) missing.push("wrk");
  if (missing.length === 0) return;
  if (Deno.uid() !== 0) {
    throw new Error(
      `static_bench: ${
        missing.join(" and ")
      } missing; install them (sudo apt-get install -y ${
        missing.join(" ")
      }) or run the benchmark as root`,
    );
  }
  console.error(`installing ${missing.join(", ")} with apt-get ...`);
  await run("apt-get", ["update", "-q"]);
  await run("apt-get", ["install", "-y", "-q", ...missing]);
}

// ---------------------------------------------------------------- fixtures

async function makeSite(): Promise<{ dir: string; media: string }> {
  const dir = await Deno.makeTempDir({ prefix: "static-bench-" });
  const media = `${dir}/media`;
  await Deno.mkdir(media);
  for (const { name, size } of FILES) {
    const bytes = new Uint8Array(size);
    crypto.getRandomValues(bytes.subarray(0, Math.min(size, 65536)));
    await Deno.writeFile(`${media}/${name}`, bytes);
  }
  // Apache's children run as www-data and must be able to read the files.
  await Deno.chmod(dir, 0o755);
  await Deno.chmod(media, 0o755);
  for (const { name } of FILES) await Deno.chmod(`${media}/${name}`, 0o644);
  return { dir, media };
}

// ----------------------------------------------------------------- servers

interface RunningServer {
  name: string;
  port: number;
  stop(): Promise<void>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function waitForPort(
  port: number,
  what: string,
  exited: () => boolean,
): Promise<void> {
  for (let attempt = 0; attempt < 100 && !exited(); attempt++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(
    `${what} did not listen on 127.0.0.1:${port}${
      exited() ? ": it exited" : " within 10 s"
    }`,
  );
}

async function startDeno(
  name: string,
  media: string,
  via: "bare" | "hono",
): Promise<RunningServer> {
  const server = new URL("./static/server.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", server, "--root", media, "--via", via],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let announced = "";
  while (!announced.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${name}: the server exited before listening`);
    announced += value;
  }
  reader.releaseLock();
  // Keep draining stdout so the child never blocks on a full pipe.
  child.stdout.pipeTo(new WritableStream()).catch(() => {});
  const { port } = JSON.parse(announced.split("\n")[0]);
  return {
    name,
    port,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** `deno serve --parallel`: one isolate per CPU, like Apache's workers. */
async function startDenoParallel(media: string): Promise<RunningServer> {
  const port = freePort();
  const jobs = navigator.hardwareConcurrency;
  const server = new URL("./static/parallel_server.ts", import.meta.url)
    .pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "--parallel",
      "-A",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      server,
    ],
    env: { STATIC_ROOT: media, DENO_JOBS: String(jobs) },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  let exited = false;
  const status = child.status.then((result) => {
    exited = true;
    return result;
  });
  await waitForPort(port, "deno serve --parallel", () => exited);
  return {
    name: `Deno serveAlias, deno serve --parallel (${jobs} isolates)`,
    port,
    async stop() {
      child.kill("SIGTERM");
      await status;
    },
  };
}

function apacheConfig(dir: string, media: string, port: number): string {
  const user = Deno.uid() === 0 ? "User www-data\nGroup www-data\n" : "";
  return `# Generated by bench/static_bench.ts: only what Alias needs.
ServerRoot "${dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile "${dir}/apache.pid"
ErrorLog "${dir}/apache-error.log"
LogLevel warn
DefaultRuntimeDir "${dir}"
Mutex file:${dir} default
${user}
LoadModule mpm_event_module ${APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module ${APACHE_MODULES}/mod_authz_core.so
LoadModule alias_module ${APACHE_MODULES}/mod_alias.so
LoadModule mime_module ${APACHE_MODULES}/mod_mime.so
TypesConfig /etc/mime.types

# mpm_event with Debian's defaults (mods-available/mpm_event.conf).
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0

# Apache at its best for static files: sendfile, and keep-alive
# connections never cut (Deno does not cut them either); no access log,
# as the Deno server keeps none.
EnableSendfile On
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5

DocumentRoot "${dir}/empty"
<Directory />
    Require all denied
    AllowOverride None
</Directory>
Alias /media/ "${media}/"
<Directory "${media}">
    Require all granted
    Options -Indexes
</Directory>
`;
}

async function startApache(dir: string, media: string): Promise<RunningServer> {
  const port = freePort();
  await Deno.mkdir(`${dir}/empty`);
  const config = `${dir}/apache.conf`;
  await Deno.writeTextFile(config, apacheConfig(dir, media, port));
  const child = new Deno.Command(APACHE, {
    args: ["-f", config, "-DFOREGROUND"],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  let exited = false;
  const status = child.status.then((result) => {
    exited = true;
    return result;
  });
  try {
    await waitForPort(port, "apache2", () => exited);
  } catch (error) {
    if (!exited) child.kill("SIGKILL");
    await status;
    const log = await Deno.readTextFile(`${dir}/apache-error.log`).catch(
      () => "",
    );
    throw new Error(`${(error as Error).message}\n${log}`);
  }
  return {
    name: "Apache Alias",
    port,
    async stop() {
      // In the foreground, SIGTERM stops the parent and its children.
      child.kill("SIGTERM");
      await status;
    },
  };
}

// ------------------------------------------------------------- measurement

interface Measurement {
  server: string;
  file: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  megabytesPerSecond: number;
  errors: number;
}

function milliseconds(value: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (!match) throw new Error(`wrk printed a latency I cannot read: ${value}`);
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60000 }[match[2]]!;
  return Number(match[1]) * scale;
}

function megabytes(value: string): number {
  const match = /^([\d.]+)(B|KB|MB|GB)$/.exec(value.trim());
  if (!match) throw new Error(`wrk printed a rate I cannot read: ${value}`);
  const scale = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 }[match[2]]!;
  return Number(match[1]) * scale;
}

/** Checks the server sends the file whole before measuring it. */
async function checkServes(url: string, size: number): Promise<void> {
  const response = await fetch(url);
  const body = await response.arrayBuffer();
  if (response.status !== 200 || body.byteLength !== size) {
    throw new Error(
      `${url} answered ${response.status} with ${body.byteLength} bytes, not 200 with ${size}`,
    );
  }
}

async function measure(
  server: RunningServer,
  file: (typeof FILES)[number],
): Promise<Measurement> {
  const url = `http://127.0.0.1:${server.port}/media/${file.name}`;
  await checkServes(url, file.size);
  if (WARMUP_SECONDS > 0) {
    await run("wrk", [
      `-t${WRK_THREADS}`,
      `-c${CONNECTIONS}`,
      `-d${WARMUP_SECONDS}s`,
      url,
    ], { quiet: true });
  }
  const output = await run("wrk", [
    `-t${WRK_THREADS}`,
    `-c${CONNECTIONS}`,
    `-d${DURATION_SECONDS}s`,
    "--latency",
    url,
  ], { quiet: true });
  const field = (pattern: RegExp) => {
    const match = pattern.exec(output);
    if (!match) throw new Error(`wrk output lacks ${pattern}:\n${output}`);
    return match[1];
  };
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const socketErrors = /Socket errors: (.*)/.exec(output);
  const errors = (non2xx ? Number(non2xx[1]) : 0) +
    (socketErrors
      ? [...socketErrors[1].matchAll(/\d+/g)].reduce((n, m) => n + +m[0], 0)
      : 0);
  return {
    server: server.name,
    file: file.label,
    requestsPerSecond: Number(field(/Requests\/sec:\s+([\d.]+)/)),
    p50Ms: milliseconds(field(/\s50%\s+(\S+)/)),
    p99Ms: milliseconds(field(/\s99%\s+(\S+)/)),
    megabytesPerSecond: megabytes(field(/Transfer\/sec:\s+(\S+)/)),
    errors,
  };
}

// -------------------------------------------------------------------- main

await ensureTools();
const { dir, media } = await makeSite();
const apacheVersion = (await run(APACHE, ["-v"], { quiet: true }))
  .split("\n")[0].replace("Server version: ", "");
const rounds: Measurement[] = [];
try {
  const starters: (() => Promise<RunningServer>)[] = [
    () => startDeno("Deno serveAlias", media, "bare"),
    () => startDeno("Deno alias() on Hono", media, "hono"),
    () => startDenoParallel(media),
    () => startApache(dir, media),
  ];
  // All servers run for the whole benchmark, idle while another is
  // measured, and the rounds take turns, so that a burst of load from
  // elsewhere on the machine hits every server alike; each row is the
  // round with the median req/s.
  const servers: RunningServer[] = [];
  try {
    for (const start of starters) servers.push(await start());
    for (let round = 1; round <= ROUNDS; round++) {
      for (const server of servers) {
        for (const file of FILES) {
          console.error(
            `round ${round}/${ROUNDS}: ${server.name}, ${file.label} ...`,
          );
          rounds.push(await measure(server, file));
        }
      }
    }
  } finally {
    for (const server of servers) await server.stop();
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

function median(of: Measurement[]): Measurement {
  const sorted = [...of].sort((a, b) =>
    a.requestsPerSecond - b.requestsPerSecond
  );
  return sorted[Math.floor(sorted.length / 2)];
}
const results: Measurement[] = [];
for (const measured of rounds) {
  const same = (r: Measurement) =>
    r.server === measured.server && r.file === measured.file;
  if (!results.some(same)) results.push(median(rounds.filter(same)));
}
results.sort((a, b) => a.file.localeCompare(b.file));
const apacheRate = (file: string) =>
  results.find((r) => r.server === "Apache Alias" && r.file === file)!
    .requestsPerSecond;
const rows = results.map((r) =>
  `| ${r.file} | ${r.server} | ${Math.round(r.requestsPerSecond)} | ${
    r.p50Ms.toFixed(2)
  } | ${r.p99Ms.toFixed(2)} | ${Math.round(r.megabytesPerSecond)} | ${
    (r.requestsPerSecond / apacheRate(r.file)).toFixed(2)
  }${r.errors ? ` (${r.errors} errors)` : ""} |`
);
const date = new Date().toISOString().slice(0, 10);
const setup =
  `wrk -t${WRK_THREADS} -c${CONNECTIONS} -d${DURATION_SECONDS}s, median of ${ROUNDS} rounds, ${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno}, ${apacheVersion} (mpm_event)`;
console.log(`Static files, ${date}: ${setup}

| file | server | req/s | p50 ms | p99 ms | MB/s | req/s vs Apache |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
${rows.join("\n")}`);

const resultsDir = new URL("./results/", import.meta.url).pathname;
await Deno.mkdir(resultsDir, { recursive: true });
await Deno.writeTextFile(
  `${resultsDir}static.json`,
  JSON.stringify(
    {
      date,
      wrk: {
        threads: WRK_THREADS,
        connections: CONNECTIONS,
        durationSeconds: DURATION_SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        rounds: ROUNDS,
      },
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      apache: apacheVersion,
      results,
      everyRound: rounds,
    },
    null,
    2,
  ) + "\n",
);
