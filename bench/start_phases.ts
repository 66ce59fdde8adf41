/**
 * Where a cold start's time goes, phase by phase, for the Flask example's
 * app: Deno's own start (an empty program), this library's module graph,
 * Pyodide's JavaScript and the compile of its WebAssembly, a restore from
 * a warm snapshot (with and without the script in it), the script's
 * import, one request, and a Web Worker's start to its first answer.
 * Each phase is timed in a fresh process, `--rounds` times; the median is
 * shown with the load average.
 *
 * Run: deno run -A bench/start_phases.ts [--rounds 3]
 *
 * @module
 */

import { ensurePythonPackages } from "../tests/python_packages.ts";
import { loadAverage, median } from "./measure.ts";
import { parseOptions } from "./options.ts";
import { ROOT } from "./servers.ts";

const rounds = parseOptions(
  "Usage: npx -y deno@2.9.6 run -A bench/start_phases.ts [options]",
  { rounds: ["3", "runs of each phase; the median is shown"] },
).whole("rounds");
const FLASK = `${ROOT}examples/flask-beside-hono`;

/** The program each round runs: prints one JSON line of phase times. */
const PROGRAM = `
const t0 = performance.now();
const phases = { "Deno start to the first line": t0 };
const lap = (name, since) => { phases[name] = performance.now() - since; return performance.now(); };
let t = performance.now();
const mod = await import("${ROOT}mod.ts");
t = lap("module graph (mod.ts)", t);
const snapshots = await import("${ROOT}src/snapshots.ts");
t = lap("Pyodide's JavaScript", t);
const bytes = await Deno.readFile("${ROOT}node_modules/pyodide/pyodide.asm.wasm");
await WebAssembly.compile(bytes);
t = lap("compiling pyodide.asm.wasm (alone)", t);
const [folder, scriptFolder, mode, site] = Deno.args;
const group = mod.defineGroup("phases", {
  processes: mode === "worker" ? 1 : 0,
  threads: 1,
  pythonPath: [site],
  preload: ["flask"],
  snapshot: { folder, write: false, script: mode !== "preload" },
});
const router = mod.createRouter();
mod.mountWsgi(router, "/", scriptFolder + "/app.wsgi", { group, applicationGroup: "%{GLOBAL}" });
await group.ready();
t = lap(mode === "worker" ? "a Web Worker, restored, to ready" : "restore to ready (" + mode + ")", t);
const response = await router.fetch(new Request("http://127.0.0.1/"));
await response.arrayBuffer();
t = lap("first request", t);
phases.total = performance.now();
console.log(JSON.stringify(phases));
await group.shutdown();
`;

const folder = await Deno.makeTempDir({ prefix: "start-phases-" });
const program = `${folder}/phases.mjs`;
await Deno.writeTextFile(program, PROGRAM);
const snapshots = `${folder}/snapshots`;

async function run(args: string[]): Promise<Record<string, number>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", program, ...args],
    cwd: ROOT,
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  const text = lines.at(-1);
  if (!output.success || !text) {
    throw new Error(new TextDecoder().decode(output.stderr));
  }
  return JSON.parse(text);
}

/** An empty program: what Deno itself costs before any of ours runs. */
async function denoStart(): Promise<number> {
  const empty = `${folder}/empty.mjs`;
  await Deno.writeTextFile(empty, "");
  const started = performance.now();
  await new Deno.Command(Deno.execPath(), { args: ["run", empty] }).output();
  return performance.now() - started;
}

// Build both snapshots first (with the script, and preload only).
const { buildSnapshot } = await import("../mod.ts");
const site = await ensurePythonPackages();
const group = {
  processes: 0,
  threads: 1,
  pythonPath: [site],
  preload: ["flask"],
};
await buildSnapshot(group, { folder: snapshots });
await buildSnapshot(group, {
  folder: snapshots,
  scripts: [{ script: `${FLASK}/app.wsgi` }],
});

console.log(`load average ${loadAverage()}, median of ${rounds}`);
const starts: number[] = [];
for (let i = 0; i < rounds; i++) starts.push(await denoStart());
console.log(
  `| an empty deno run, whole process | ${median(starts).toFixed(0)} ms |`,
);
for (const mode of ["preload", "script", "worker"]) {
  const results: Record<string, number[]> = {};
  for (let i = 0; i < rounds; i++) {
    const phases = await run([snapshots, FLASK, mode, site]);
    for (const [name, ms] of Object.entries(phases)) {
      (results[name] ??= []).push(ms);
    }
  }
  console.log(`\n${mode}:`);
  for (const [name, list] of Object.entries(results)) {
    console.log(`| ${name} | ${median(list).toFixed(0)} ms |`);
  }
}
await Deno.remove(folder, { recursive: true });
