/**
 * Cold start, with and without interpreter snapshots, in one command: the
 * time from launching an example server to its first answer from Python,
 * and the server's RSS then, for the hello app, the Flask example and the
 * Django example. Each run starts a fresh process; "warm" means a
 * snapshot for that app already exists in the cache folder, made by an
 * earlier run of the same command.
 *
 * Run: deno task bench:cold [--rounds 3]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ROOT } from "./servers.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: { rounds: { type: "string", default: "3" } },
});
const rounds = Number(values.rounds);

interface Example {
  name: string;
  script: string;
  /** A path that Python answers. */
  path: string;
  /** More arguments and variables, the same on every run. */
  args?: string[];
  env?: Record<string, string>;
}

const EXAMPLES: Example[] = [
  { name: "hello", script: "examples/server.ts", path: "/myapp/" },
  {
    name: "flask",
    script: "examples/flask-beside-hono/server.ts",
    path: "/app/",
  },
  {
    name: "django",
    script: "examples/django/server.ts",
    path: "/",
    // A deployment keeps its database folder and its settings from one
    // start to the next (both are in the group's env, so in the snapshot's
    // name); a new temporary folder per run would never find its snapshot.
    args: ["--data", `${Deno.makeTempDirSync({ prefix: "cold-django-" })}`],
    env: { DJANGO_SUPERUSER_PASSWORD: "cold-start-bench" },
  },
];

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Milliseconds from launch to the first 200 from Python, and the RSS then. */
async function firstAnswer(
  example: Example,
  snapshots: string,
): Promise<{ ms: number; rssMiB: number }> {
  const port = freePort();
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      example.script,
      "--port",
      String(port),
      ...(example.args ?? []),
    ],
    cwd: ROOT,
    env: { ...example.env, DENO_WSGI_SNAPSHOTS: snapshots },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const deadline = started + 120_000;
    while (performance.now() < deadline) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}${example.path}`);
        await response.body?.cancel();
        if (response.status === 200) {
          const ms = performance.now() - started;
          const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
          const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
          return { ms, rssMiB: kib / 1024 };
        }
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`${example.name}: no answer within 120 s`);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const folder = await Deno.makeTempDir({ prefix: "cold-start-" });
console.log(
  `| app | without snapshot | with a warm snapshot | ratio | RSS without | RSS with |`,
);
console.log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
for (const example of EXAMPLES) {
  const plain: number[] = [];
  const warm: number[] = [];
  const plainRss: number[] = [];
  const warmRss: number[] = [];
  // The first run with snapshots on makes the snapshot; it is not counted.
  await firstAnswer(example, folder);
  for (let round = 0; round < rounds; round++) {
    const off = await firstAnswer(example, "off");
    plain.push(off.ms);
    plainRss.push(off.rssMiB);
    const on = await firstAnswer(example, folder);
    warm.push(on.ms);
    warmRss.push(on.rssMiB);
  }
  const [a, b] = [median(plain), median(warm)];
  console.log(
    `| ${example.name} | ${Math.round(a)} ms | ${Math.round(b)} ms | ${
      (b / a).toFixed(2)
    }x | ${median(plainRss).toFixed(0)} MiB | ${
      median(warmRss).toFixed(0)
    } MiB |`,
  );
}
await Deno.remove(folder, { recursive: true });
