/**
 * Writes src/python_sources.ts from python/*.py, so the Python half of the
 * gateway travels inside the module graph: a copy of this library imported
 * from an https: URL or a registry has no python/ folder beside it to read.
 * `--check` (run by `deno task check`) fails when the two differ.
 *
 * Run: deno run --allow-read --allow-write tools/embed_python.ts [--check]
 *
 * @module
 */

const MODULES = [
  "wsgi_bridge",
  "compat",
  "network",
  "threads",
  "files",
  "snapshot_import",
];
const target = new URL("../src/python_sources.ts", import.meta.url);

/** The generated module's text. */
export async function generate(): Promise<string> {
  const entries: string[] = [];
  for (const name of MODULES) {
    const source = await Deno.readTextFile(
      new URL(`../python/${name}.py`, import.meta.url),
    );
    entries.push(`  ${name}: ${JSON.stringify(source)},`);
  }
  return [
    "// Generated from python/*.py by tools/embed_python.ts; do not edit.",
    "// Edit python/*.py, then run: deno task embed-python",
    "",
    "/** The Python half of the gateway, by module name. */",
    "export const PYTHON_SOURCES: Readonly<Record<string, string>> = {",
    ...entries,
    "};",
    "",
  ].join("\n");
}

if (import.meta.main) {
  const wanted = await generate();
  if (Deno.args.includes("--check")) {
    let current = "";
    try {
      current = await Deno.readTextFile(target);
    } catch {
      // Missing counts as out of date.
    }
    if (current !== wanted) {
      console.error(
        "src/python_sources.ts is out of date with python/*.py: run `deno task embed-python`",
      );
      Deno.exit(1);
    }
  } else {
    await Deno.writeTextFile(target, wanted);
  }
}
