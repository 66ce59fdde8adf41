/**
 * "No module imports a module above it": the steps of README.md's Layout,
 * in the order a request flows through src/, held here as data. A module
 * may import its own step, a later one, or a shared module; a shared module
 * takes only types from the steps. The README's numbered list must name
 * the same modules per step, so the two cannot drift apart.
 */

import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("./", import.meta.url));
const README = fileURLToPath(new URL("../README.md", import.meta.url));

/** README.md's Layout, step 0 to 7; "apache/" holds every module in it. */
const STEPS: string[][] = [
  [
    "cli/",
    "apache/",
    "site.ts",
    "site_checks.ts",
    "serve_site.ts",
    "change_watch.ts",
    "access_log.ts",
    "server_status.ts",
    "health.ts",
    "connections.ts",
    "accept_loop.ts",
    "open_connections.ts",
    "strict_http.ts",
    "response_progress.ts",
    "connection_limits.ts",
    "snapshot_build.ts",
  ],
  [
    "router.ts",
    "dispatch.ts",
    "mounting.ts",
    "mount_options.ts",
    "proxy_headers.ts",
    "aliases.ts",
    "containment.ts",
    "file_responses.ts",
    "conditional.ts",
    "byte_ranges.ts",
    "listing.ts",
  ],
  ["url_path.ts", "environ.ts"],
  [
    "groups.ts",
    "group_options.ts",
    "pools.ts",
    "exchange.ts",
    "scheduler.ts",
    "wait_queue.ts",
    "pipelining.ts",
    "supervisor.ts",
    "staffing.ts",
    "startup_watch.ts",
    "recycling.ts",
    "backoff.ts",
    "alarms.ts",
    "records.ts",
    "metrics.ts",
  ],
  [
    "worker.ts",
    "worker_factory.ts",
    "permissions.ts",
    "channel_worker.ts",
    "channels.ts",
    "embedded_worker.ts",
    "watchdog_main.ts",
    "request_body.ts",
    "body_limits.ts",
    "spill_file.ts",
    "streamed_body.ts",
  ],
  ["frames.ts", "worker_main.ts", "process_main.ts"],
  [
    "interpreters.ts",
    "request_calls.ts",
    "interpreter_startup.ts",
    "host_folders.ts",
    "python_files.ts",
    "python_sources.ts",
    "sockets.ts",
    "waiters.ts",
    "shared_folders.ts",
    "snapshots.ts",
    "snapshot_key.ts",
    "snapshot_format.ts",
    "snapshot_save.ts",
    "snapshot_scripts.ts",
    "compiled_pyodide.ts",
  ],
  ["responses.ts"],
];

/** Modules every step may import. */
const SHARED = ["config.ts", "option_checks.ts", "logging.ts", "protocol.ts"];

/** Every module of src/ (tests aside), relative to it: "apache/lexer.ts". */
function modules(): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(SRC)) {
    if (entry.isDirectory) {
      for (const inner of Deno.readDirSync(join(SRC, entry.name))) {
        found.push(`${entry.name}/${inner.name}`);
      }
    } else {
      found.push(entry.name);
    }
  }
  return found.filter((name) =>
    name.endsWith(".ts") && !name.endsWith("_test.ts")
  ).sort();
}

/** The step a module is in, or undefined for a shared or unlisted one. */
function stepOf(module: string): number | undefined {
  const index = STEPS.findIndex((step) =>
    step.some((entry) =>
      entry === module || (entry.endsWith("/") && module.startsWith(entry))
    )
  );
  return index < 0 ? undefined : index;
}

interface Import {
  module: string;
  /** `import type` / `export type`: nothing is loaded at run time. */
  typeOnly: boolean;
}

/**
 * The src/ modules `module` imports: static imports, side-effect imports
 * and re-exports (at the start of a line, so a doc comment's example does
 * not count), dynamic `import()`, and the entry points it starts workers
 * from (`new URL("./worker_main.ts", import.meta.url)`).
 */
function importsOf(module: string): Import[] {
  const text = Deno.readTextFileSync(join(SRC, module));
  const found: Import[] = [];
  const add = (specifier: string, typeOnly: boolean) => {
    if (!specifier.startsWith(".") || !specifier.endsWith(".ts")) return;
    const target = normalize(join(dirname(module), specifier));
    if (!target.startsWith("..")) found.push({ module: target, typeOnly });
  };
  for (
    const match of text.matchAll(
      /^(import|export)\s+(type\s)?(?:[^;"]*?\sfrom\s+)?"([^"]+)"/gm,
    )
  ) {
    add(match[3], match[2] !== undefined);
  }
  for (
    const match of text.matchAll(
      /import\(\s*"([^"]+)"\s*\)|new URL\(\s*"([^"]+)",\s*import\.meta\.url/g,
    )
  ) {
    add(match[1] ?? match[2], false);
  }
  return found;
}

Deno.test("layers: every module of src/ is in one step or shared", () => {
  const all = modules();
  const unlisted = all.filter((module) =>
    stepOf(module) === undefined && !SHARED.includes(module)
  );
  assert.deepEqual(unlisted, [], "add them to STEPS here and to README.md");
  const listed = [...STEPS.flat(), ...SHARED];
  const gone = listed.filter((entry) =>
    !all.some((module) =>
      module === entry || (entry.endsWith("/") && module.startsWith(entry))
    )
  );
  assert.deepEqual(gone, [], "listed here but not in src/");
  const twice = listed.filter((entry, i) => listed.indexOf(entry) !== i);
  assert.deepEqual(twice, [], "listed twice");
});

Deno.test("layers: no module imports one of an earlier step", () => {
  const upwards: string[] = [];
  for (const module of modules()) {
    const step = stepOf(module);
    for (const { module: target, typeOnly } of importsOf(module)) {
      if (SHARED.includes(target)) continue;
      if (SHARED.includes(module)) {
        if (!typeOnly) upwards.push(`${module} (shared) loads ${target}`);
        continue;
      }
      const targetStep = stepOf(target);
      if (step !== undefined && targetStep !== undefined && targetStep < step) {
        upwards.push(
          `${module} (step ${step}) imports ${target} (step ${targetStep})`,
        );
      }
    }
  }
  assert.deepEqual(upwards, []);
});

Deno.test("layers: the import reader sees what a module imports", () => {
  // A reader that saw nothing would make the test above pass for nothing.
  const channels = importsOf("channels.ts").map((i) => i.module);
  assert.ok(channels.includes("frames.ts"), String(channels));
  assert.ok(channels.includes("worker_main.ts"), "a Worker's entry point");
  const protocol = importsOf("protocol.ts");
  assert.ok(protocol.length > 0 && protocol.every((i) => i.typeOnly));
  assert.ok(
    importsOf("apache/to_site.ts").some((i) => i.module === "site.ts"),
    "a folder's module, relative to its folder",
  );
});

Deno.test("layers: README.md's Layout names the same modules per step", () => {
  const readme = Deno.readTextFileSync(README);
  const layout = readme.slice(
    readme.indexOf("\n## Layout\n"),
    readme.indexOf("\n## ", readme.indexOf("\n## Layout\n") + 1),
  );
  // "  0. ...", "  1. ...": a step runs to the next one or to a line that
  // is not indented under it.
  const items = [
    ...layout.matchAll(/^ {2}(\d+)\. ([\s\S]*?)(?=\n {2}\d+\. |\n(?! {5}))/gm),
  ];
  const named = (text: string) =>
    [...text.matchAll(/`([\w/]+\.ts|\w+\/)`/g)].map((match) => match[1])
      .filter((name) => !SHARED.includes(name));
  assert.deepEqual(
    items.map((item) => Number(item[1])),
    STEPS.map((_, i) => i),
    "README.md's Layout numbers its steps 0 to 7",
  );
  items.forEach((item, i) => {
    assert.deepEqual(
      [...new Set(named(item[2]))].sort(),
      [...STEPS[i]].sort(),
      `step ${i}`,
    );
  });
  const shared = layout.slice(layout.indexOf("modules serve every step"));
  const sharedNames = [
    ...shared.slice(0, shared.indexOf("\n\n"))
      .matchAll(/`(\w+\.ts)`/g),
  ].map((match) => match[1]);
  assert.deepEqual(sharedNames.sort(), [...SHARED].sort(), "shared modules");
});
