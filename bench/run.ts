/**
 * The benchmark command (`deno task bench`): the gateway, Apache with
 * Debian's mod_wsgi in daemon mode, and gunicorn, with the same number of
 * processes, in one run, driven by the same wrk settings, on loopback.
 * Installs what it needs from Debian's packages when missing. Writes
 * bench/results/results.json, results.md and chart.svg (req/s as a ratio of
 * mod_wsgi's, since absolute figures drift on shared machines).
 *
 * Run: npx -y deno@2.9.6 task bench [--processes 2] [--seconds 5] [--connections 64] [--only hello,flask-json]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ensurePythonPackages } from "../tests/python_packages.ts";
import { startApacheWsgi } from "./flask/apache.ts";
import { runWrk, type WrkResult } from "./flask/wrk.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    processes: { type: "string", default: "2" },
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "64" },
    only: { type: "string" },
  },
});
const processes = Number(values.processes);
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const results = `${root}/bench/results`;

interface Scenario {
  name: string;
  script: string;
  prefix: string;
  path: string;
  /** A wrk Lua script, for POSTs. */
  lua?: string;
  flask?: boolean;
  /** Served from disk: gateway alias, Apache Alias; gunicorn has none. */
  static?: boolean;
}

const flaskScript = `${root}/examples/flask-beside-hono/app.wsgi`;
const payload = `${root}/bench/apps/payload.wsgi`;
const mediaFolder = `${root}/examples/hello/static/media/`;
const scenarios: Scenario[] = [
  {
    name: "hello",
    script: `${root}/examples/hello/app.wsgi`,
    prefix: "/myapp",
    path: "/myapp/",
  },
  {
    name: "flask-plain",
    script: flaskScript,
    prefix: "/app",
    path: "/app/api/whoami",
    flask: true,
  },
  {
    name: "flask-json",
    script: flaskScript,
    prefix: "/app",
    path: "/app/api/items",
    flask: true,
  },
  {
    name: "flask-template",
    script: flaskScript,
    prefix: "/app",
    path: "/app/hello/world",
    flask: true,
  },
  { name: "1MiB-response", script: payload, prefix: "/p", path: "/p/" },
  {
    name: "1MiB-upload",
    script: payload,
    prefix: "/p",
    path: "/p/",
    lua: 'wrk.method = "POST"\nwrk.body = string.rep("x", 1048576)\n' +
      'wrk.headers["Content-Type"] = "application/octet-stream"\n',
  },
  {
    name: "static-alias",
    script: payload,
    prefix: "/p",
    path: "/media/site.css",
    static: true,
  },
].filter((s) => !values.only || values.only.split(",").includes(s.name));

async function run(command: string, args: string[]): Promise<boolean> {
  const output = await new Deno.Command(command, {
    args,
    stdout: "null",
    stderr: "inherit",
  }).output().catch(() => undefined);
  return output?.success ?? false;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Installs wrk, apache2, mod_wsgi and gunicorn from Debian when missing. */
async function ensureReferenceServers(): Promise<void> {
  const missing: string[] = [];
  if (!await exists("/usr/bin/wrk")) missing.push("wrk");
  if (!await exists("/usr/sbin/apache2")) missing.push("apache2");
  if (!await exists("/usr/lib/apache2/modules/mod_wsgi.so")) {
    missing.push("libapache2-mod-wsgi-py3");
  }
  if (!await exists("/usr/bin/gunicorn")) missing.push("gunicorn");
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(", ")} from Debian's packages`);
  if (
    !await run("apt-get", ["update", "-qq"]) ||
    !await run("apt-get", ["install", "-y", "-qq", ...missing])
  ) {
    throw new Error(
      `could not install ${missing.join(" ")}; run apt-get install -y ${
        missing.join(" ")
      } as root`,
    );
  }
}

/** RSS of a process and all its descendants, in MiB. */
function treeRssMiB(pid: number): number {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const id = Number(entry.name);
      const parent = Number(fields[1]);
      rss.set(id, Number(fields[21]) * 4096);
      children.set(parent, [...(children.get(parent) ?? []), id]);
    } catch {
      // the process ended meanwhile
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const id = stack.pop()!;
    total += rss.get(id) ?? 0;
    stack.push(...(children.get(id) ?? []));
  }
  return total / 1024 / 1024;
}

async function waitFor(url: string, timeoutSeconds = 90): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.status < 500) return;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer within ${timeoutSeconds} s`);
}

interface Server {
  pid: number;
  stop(): Promise<void>;
}

let nextPort = 8600;

function startGateway(
  scenario: Scenario,
  port: number,
  sitePackages: string,
): Promise<Server> {
  const args = [
    "run",
    "-A",
    `${root}/bench/gateway_server.ts`,
    "--port",
    String(port),
    "--processes",
    String(processes),
    "--app",
    scenario.script,
    "--prefix",
    scenario.prefix,
    "--alias",
    `/media/=${mediaFolder}`,
  ];
  if (scenario.flask) args.push("--python-path", sitePackages);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "null",
    stderr: "null",
  }).spawn();
  return Promise.resolve({
    pid: child.pid,
    stop: async () => {
      child.kill("SIGKILL");
      await child.status;
    },
  });
}

async function startApache(
  scenario: Scenario,
  port: number,
  sitePackages: string,
): Promise<Server> {
  const apache = await startApacheWsgi({
    port,
    prefix: scenario.prefix,
    script: scenario.script,
    processes,
    threads: 15,
    pythonPath: scenario.flask ? [sitePackages] : [],
    extraConfig: [
      "LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so",
      `Alias /media/ ${mediaFolder}`,
      `<Directory ${mediaFolder}>`,
      "  Require all granted",
      "</Directory>",
    ],
  });
  const pid = Number(
    (await Deno.readTextFile(`${apache.folder}/httpd.pid`).catch(() => "0"))
      .trim(),
  );
  return { pid, stop: () => apache.stop() };
}

async function startGunicorn(
  scenario: Scenario,
  port: number,
  sitePackages: string,
): Promise<Server> {
  // gunicorn imports a module: a small one that loads the .wsgi file.
  const folder = await Deno.makeTempDir({ prefix: "bench-gunicorn-" });
  await Deno.writeTextFile(
    `${folder}/bench_entry.py`,
    `import importlib.machinery, importlib.util\n` +
      `loader = importlib.machinery.SourceFileLoader("bench_wsgi", ${
        JSON.stringify(scenario.script)
      })\n` +
      `spec = importlib.util.spec_from_loader("bench_wsgi", loader)\n` +
      `module = importlib.util.module_from_spec(spec)\nloader.exec_module(module)\n` +
      `application = module.application\n`,
  );
  const pythonPath = [
    folder,
    scenario.script.slice(0, scenario.script.lastIndexOf("/")),
  ];
  if (scenario.flask) pythonPath.push(sitePackages);
  const child = new Deno.Command("/usr/bin/gunicorn", {
    args: [
      "--workers",
      String(processes),
      "--bind",
      `127.0.0.1:${port}`,
      "--log-level",
      "warning",
      "--pythonpath",
      pythonPath.join(","),
      "bench_entry:application",
    ],
    env: { SCRIPT_NAME: scenario.prefix },
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(folder, { recursive: true });
    },
  };
}

interface Row extends WrkResult {
  scenario: string;
  server: string;
  peakRssMiB: number;
  ratio?: number;
}

async function measure(
  scenario: Scenario,
  server: string,
  start: (s: Scenario, port: number, site: string) => Promise<Server>,
  sitePackages: string,
): Promise<Row> {
  const port = nextPort++;
  const running = await start(scenario, port, sitePackages);
  const url = `http://127.0.0.1:${port}${scenario.path}`;
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, treeRssMiB(running.pid));
  }, 200);
  try {
    await waitFor(url);
    let luaFile: string | undefined;
    if (scenario.lua) {
      luaFile = await Deno.makeTempFile({ suffix: ".lua" });
      await Deno.writeTextFile(luaFile, scenario.lua);
    }
    const options = { seconds, connections, threads: 2, script: luaFile };
    await runWrk(url, { ...options, seconds: 2 }); // warm-up
    const result = await runWrk(url, options);
    if (luaFile) await Deno.remove(luaFile);
    return {
      scenario: scenario.name,
      server,
      peakRssMiB: Math.round(peak),
      ...result,
    };
  } finally {
    clearInterval(sampler);
    await running.stop();
  }
}

function chart(rows: Row[]): string {
  const names = [...new Set(rows.map((r) => r.scenario))];
  const servers = ["gateway", "gunicorn"];
  const colors: Record<string, string> = {
    gateway: "#2a7ae2",
    gunicorn: "#e2862a",
  };
  const max = Math.max(1.5, ...rows.map((r) => r.ratio ?? 0));
  const width = 760, rowHeight = 44, left = 150, plot = width - left - 40;
  const height = 60 + names.length * rowHeight;
  const x = (value: number) => left + (value / max) * plot;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="${left}" y="18" font-size="14">req/s as a ratio of Apache + mod_wsgi (daemon mode), ${processes} processes</text>`,
    `<line x1="${x(1)}" y1="26" x2="${x(1)}" y2="${
      height - 10
    }" stroke="#444" stroke-dasharray="4 3"/>`,
    `<text x="${x(1) + 3}" y="38" fill="#444">mod_wsgi = 1.0</text>`,
  ];
  names.forEach((name, i) => {
    const y = 46 + i * rowHeight;
    parts.push(
      `<text x="${left - 8}" y="${y + 18}" text-anchor="end">${name}</text>`,
    );
    servers.forEach((server, j) => {
      const row = rows.find((r) => r.scenario === name && r.server === server);
      if (!row?.ratio) return;
      const top = y + j * 17;
      parts.push(
        `<rect x="${left}" y="${top}" width="${
          x(row.ratio) - left
        }" height="15" fill="${colors[server]}"/>`,
        `<text x="${x(row.ratio) + 4}" y="${top + 12}">${server} ${
          row.ratio.toFixed(2)
        }x</text>`,
      );
    });
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

await ensureReferenceServers();
const sitePackages = await ensurePythonPackages();
const hostSitePackages = await ensurePythonPackages({ forHost: true });
const rows: Row[] = [];
for (const scenario of scenarios) {
  const servers: [string, typeof startGateway, string][] = [
    ["gateway", startGateway, sitePackages],
    ["mod_wsgi", startApache, hostSitePackages],
  ];
  if (!scenario.static) {
    servers.push(["gunicorn", startGunicorn, hostSitePackages]);
  }
  const these: Row[] = [];
  for (const [name, start, site] of servers) {
    console.log(`${scenario.name}: ${name}`);
    these.push(await measure(scenario, name, start, site));
  }
  const reference = these.find((r) => r.server === "mod_wsgi")!;
  for (const row of these) {
    row.ratio = row.requestsPerSecond / reference.requestsPerSecond;
  }
  rows.push(...these);
}

const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(
  /model name\s*:\s*(.*)/,
)?.[1];
const heading =
  `${
    new Date().toISOString().slice(0, 10)
  }, ${navigator.hardwareConcurrency} cores (${cpu}), ` +
  `${processes} processes each (mod_wsgi daemon mode with 15 threads, gunicorn sync workers, gateway Web Workers), ` +
  `wrk -t2 -c${connections} -d${seconds}s on loopback`;
const table = [
  `Benchmark of ${heading}.`,
  "",
  "| scenario | server | req/s | vs mod_wsgi | p50 | p99 | peak RSS MiB | errors |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...rows.map((r) =>
    `| ${r.scenario} | ${r.server} | ${
      Math.round(r.requestsPerSecond).toLocaleString("en")
    } | ${r.ratio?.toFixed(2)}x | ${r.p50} | ${r.p99} | ${r.peakRssMiB} | ${
      r.non2xx + r.socketErrors
    } |`
  ),
].join("\n") + "\n";
await Deno.mkdir(results, { recursive: true });
await Deno.writeTextFile(
  `${results}/results.json`,
  JSON.stringify({ heading, rows }, null, 2) + "\n",
);
await Deno.writeTextFile(`${results}/results.md`, table);
await Deno.writeTextFile(`${results}/chart.svg`, chart(rows));
console.log("\n" + table);
