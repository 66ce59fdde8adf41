import {
  pruneSnapshots,
  readSnapshot,
  SnapshotError,
  snapshotName,
  writeSnapshot,
} from "./snapshots.ts";

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function throwsSnapshotError(path: string, words: string): void {
  try {
    readSnapshot(path);
  } catch (error) {
    assert(error instanceof SnapshotError, `not a SnapshotError: ${error}`);
    assert(error.message.includes(words), error.message);
    return;
  }
  throw new Error(`${path} was accepted`);
}

Deno.test("a written snapshot reads back byte for byte; a missing one is undefined", () => {
  const folder = Deno.makeTempDirSync();
  const body = new Uint8Array(100_000).map((_, i) => (i * 7919) % 251);
  writeSnapshot(`${folder}/a.snapshot`, body);
  const read = readSnapshot(`${folder}/a.snapshot`);
  assert(read && read.length === body.length, "length differs");
  assert(read.every((byte, i) => byte === body[i]), "bytes differ");
  assert(readSnapshot(`${folder}/none.snapshot`) === undefined, "found none");
  assert(
    (Deno.statSync(`${folder}/a.snapshot`).mode! & 0o777) === 0o600,
    "the heap holds env: mode must be 0600",
  );
  Deno.removeSync(folder, { recursive: true });
});

Deno.test("a truncated, corrupt or foreign file is refused", () => {
  const folder = Deno.makeTempDirSync();
  const path = `${folder}/a.snapshot`;
  writeSnapshot(path, new Uint8Array(5000).fill(7));
  const whole = Deno.readFileSync(path);
  Deno.writeFileSync(path, whole.subarray(0, 3000));
  throwsSnapshotError(path, "truncated");
  const flipped = whole.slice();
  flipped[4000] ^= 1;
  Deno.writeFileSync(path, flipped);
  throwsSnapshotError(path, "corrupt");
  Deno.writeFileSync(path, new TextEncoder().encode("not a snapshot at all"));
  throwsSnapshotError(path, "not a snapshot");
  Deno.removeSync(folder, { recursive: true });
});

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

Deno.test("pruning keeps the newest snapshots and drops stale temporary files", () => {
  const folder = Deno.makeTempDirSync();
  for (let i = 0; i < 5; i++) {
    const path = `${folder}/${i}.snapshot`;
    Deno.writeFileSync(path, new Uint8Array(1));
    Deno.utimeSync(path, 1000 + i, 1000 + i);
  }
  Deno.writeFileSync(`${folder}/old.part`, new Uint8Array(1));
  Deno.utimeSync(`${folder}/old.part`, 1000, 1000);
  Deno.writeFileSync(`${folder}/fresh.part`, new Uint8Array(1));
  pruneSnapshots(folder, 2);
  const left = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
  assert(
    JSON.stringify(left) ===
      JSON.stringify(["3.snapshot", "4.snapshot", "fresh.part"]),
    left.join(" "),
  );
  Deno.removeSync(folder, { recursive: true });
});
