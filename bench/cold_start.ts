/**
 * Cold start, with and without interpreter snapshots (`run.ts --cold`):
 * the time from launching an example server to its first answer from
 * Python, and the server's RSS then, for the hello app, the Flask example
 * and the Django example. Each run starts a fresh process; "warm" means a
 * snapshot for that app already exists in the cache folder, made by an
 * earlier run of the same command.
 *
 * @module
 */

import { freePort } from "../tests/servers.ts";
import { median, treeMemory } from "./measure.ts";
import { launchServer } from "./servers.ts";

interface Example {
  name: string;
  script: string;
  /** A path that Python answers. */
  path: string;
  /** More arguments and variables, the same on every run. */
  args?: string[];
  env?: Record<string, string>;
}

/** The examples; the Django one keeps its database in `data`. */
const examples = (data: string): Example[] => [
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
    args: ["--data", data],
    env: { DJANGO_SUPERUSER_PASSWORD: "cold-start-bench" },
  },
];

/** Milliseconds from launch to the first 200 from Python, and the RSS then. */
async function firstAnswer(
  example: Example,
  snapshots: string,
): Promise<{ ms: number; rssMiB: number }> {
  const port = freePort();
  const server = await launchServer(example.name, {
    command: Deno.execPath(),
    args: ["run", "-A", example.script, "--port", String(port)]
      .concat(example.args ?? []),
    env: { ...example.env, DENO_WSGI_SNAPSHOTS: snapshots },
  }, { port, readyPath: example.path });
  const { rssBytes } = treeMemory(server.pid);
  await server.stop();
  return { ms: server.readyMs, rssMiB: rssBytes / 1024 / 1024 };
}

/** Prints the table: medians of `rounds` runs per example and mode. */
export async function coldStart(rounds: number): Promise<void> {
  const folder = await Deno.makeTempDir({ prefix: "cold-start-" });
  const data = await Deno.makeTempDir({ prefix: "cold-django-" });
  console.log(
    "| app | without snapshot | with a warm snapshot | ratio | RSS without | RSS with |\n" +
      "| --- | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const example of examples(data)) {
    // The first run with snapshots on makes the snapshot; it is not counted.
    await firstAnswer(example, folder);
    const runs = { off: [] as number[], on: [] as number[] };
    const rss = { off: [] as number[], on: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      for (const mode of ["off", "on"] as const) {
        const run = await firstAnswer(example, mode === "off" ? "off" : folder);
        runs[mode].push(run.ms);
        rss[mode].push(run.rssMiB);
      }
    }
    const [a, b] = [median(runs.off), median(runs.on)];
    console.log(
      `| ${example.name} | ${Math.round(a)} ms | ${Math.round(b)} ms | ${
        (b / a).toFixed(2)
      }x | ${median(rss.off).toFixed(0)} MiB | ${
        median(rss.on).toFixed(0)
      } MiB |`,
    );
  }
  await Deno.remove(folder, { recursive: true });
  await Deno.remove(data, { recursive: true });
}
