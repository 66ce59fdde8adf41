import { copyHeap, openSnapshot } from "./snapshots.ts";
import { SnapshotError } from "./snapshot_format.ts";
import { writeSnapshot } from "./snapshot_save.ts";

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
