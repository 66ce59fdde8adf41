import {
  copyHeap,
  openSnapshot,
  pruneSnapshots,
  SnapshotError,
  snapshotName,
  writeSnapshot,
} from "./snapshots.ts";

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const PAGE = 65536;
const PREFIX = 64;

/**
 * A body laid out as Pyodide's: a header naming where the heap starts,
 * then a heap of three pages, the middle one zero.
 */
function fakeBody(): Uint8Array {
  const body = new Uint8Array(PREFIX + 3 * PAGE);
  new DataView(body.buffer).setUint32(4, PREFIX, true);
  for (let i = 0; i < PAGE; i++) {
    body[PREFIX + i] = (i * 7919) % 251;
    body[PREFIX + 2 * PAGE + i] = (i * 31) % 253;
  }
  return body;
}

/** Opens and copies the heap into a fresh memory, as a restore does. */
function restoreInto(path: string, memory: WebAssembly.Memory): void {
  const opened = openSnapshot(path);
  assert(opened, `${path} not found`);
  try {
    copyHeap(opened, memory);
  } finally {
    opened.file.close();
  }
}

function refused(run: () => void, words: string): void {
  try {
    run();
  } catch (error) {
    assert(error instanceof SnapshotError, `not a SnapshotError: ${error}`);
    assert(error.message.includes(words), error.message);
    return;
  }
  throw new Error(`accepted, expected "${words}"`);
}

Deno.test("a written snapshot's heap is copied in byte for byte; a missing one is undefined", () => {
  const folder = Deno.makeTempDirSync();
  const body = fakeBody();
  writeSnapshot(`${folder}/a.snapshot`, body);
  const memory = new WebAssembly.Memory({ initial: 3 });
  // What a fresh instance holds where the snapshot's page is zero.
  new Uint8Array(memory.buffer)[PAGE + 5] = 9;
  restoreInto(`${folder}/a.snapshot`, memory);
  const live = new Uint8Array(memory.buffer);
  const heap = body.subarray(PREFIX);
  assert(live.every((byte, i) => byte === heap[i]), "bytes differ");
  assert(openSnapshot(`${folder}/none.snapshot`) === undefined, "found none");
  assert(
    (Deno.statSync(`${folder}/a.snapshot`).mode! & 0o777) === 0o600,
    "the heap holds env: mode must be 0600",
  );
  Deno.removeSync(folder, { recursive: true });
});

Deno.test("a truncated, corrupt or foreign file is refused", () => {
  const folder = Deno.makeTempDirSync();
  const path = `${folder}/a.snapshot`;
  writeSnapshot(path, fakeBody());
  const whole = Deno.readFileSync(path);
  const memory = () => new WebAssembly.Memory({ initial: 3 });
  Deno.writeFileSync(path, whole.subarray(0, 3000));
  refused(() => openSnapshot(path), "truncated");
  const flipped = whole.slice();
  flipped[whole.length - 4000] ^= 1;
  Deno.writeFileSync(path, flipped);
  refused(() => restoreInto(path, memory()), "corrupt");
  Deno.writeFileSync(path, new TextEncoder().encode("not a snapshot at all"));
  refused(() => openSnapshot(path), "not a snapshot");
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
