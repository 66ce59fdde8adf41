import { snapshotName } from "./snapshot_key.ts";

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

Deno.test("the name changes with every input: sources, options, files", () => {
  const folder = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${folder}/mod.py`, "VALUE = 1\n");
  const inputs = () => ({
    sources: new Map([["wsgi_bridge", "x = 1"]]),
    folders: [folder],
    options: { env: { A: "1" }, preload: ["mod"] },
  });
  const first = snapshotName(inputs());
  assert(first === snapshotName(inputs()), "the same inputs, another name");
  const changed = [
    { ...inputs(), sources: new Map([["wsgi_bridge", "x = 2"]]) },
    { ...inputs(), options: { env: { A: "2" }, preload: ["mod"] } },
    { ...inputs(), options: { env: { A: "1" }, preload: [] } },
  ];
  for (const other of changed) {
    assert(snapshotName(other) !== first, JSON.stringify(other.options));
  }
  Deno.writeTextFileSync(`${folder}/mod.py`, "VALUE = 22\n");
  assert(snapshotName(inputs()) !== first, "a changed file kept the name");
  const second = snapshotName(inputs());
  Deno.writeTextFileSync(`${folder}/new.py`, "");
  assert(snapshotName(inputs()) !== second, "a new module kept the name");
  const third = snapshotName(inputs());
  Deno.writeTextFileSync(`${folder}/notes.db`, "data");
  Deno.writeTextFileSync(`${folder}/README.txt`, "text");
  assert(snapshotName(inputs()) === third, "data files changed the name");
  Deno.removeSync(folder, { recursive: true });
});
