import assert from "node:assert/strict";
import {
  type EmscriptenFS,
  type EmscriptenNodeFS,
  tolerateCreateRace,
} from "./shared_folders.ts";

const O_RDWR = 2;
const O_CREAT = 64;
const O_EXCL = 128;

/** An FS whose first `losses` open() calls fail with `errno`. */
function racingFS(
  errno = 20,
  losses = 1,
): EmscriptenFS & { calls: number } {
  const fs = {
    calls: 0,
    open(path: unknown) {
      fs.calls++;
      if (fs.calls <= losses) {
        throw Object.assign(new Error(`errno ${errno}`), { errno });
      }
      return { path };
    },
  };
  return fs;
}

Deno.test("open(O_CREAT) that lost a creation race is tried again", () => {
  const fs = racingFS();
  tolerateCreateRace(fs);
  assert.deepEqual(fs.open("/data/x.db", O_RDWR | O_CREAT, 0o644), {
    path: "/data/x.db",
  });
  assert.equal(fs.calls, 2);
});

Deno.test("EEXIST stands with O_EXCL, and without O_CREAT", () => {
  for (const flags of [O_RDWR | O_CREAT | O_EXCL, O_RDWR]) {
    const fs = racingFS();
    tolerateCreateRace(fs);
    assert.throws(() => fs.open("/data/x.db", flags, 0o644), /errno 20/);
    assert.equal(fs.calls, 1);
  }
});

Deno.test("a create that loses to a delete (ENOENT) is tried again", () => {
  const fs = racingFS(44, 3);
  tolerateCreateRace(fs);
  assert.deepEqual(fs.open("/data/x.db", O_RDWR | O_CREAT, 0o644), {
    path: "/data/x.db",
  });
  assert.equal(fs.calls, 4);
});

Deno.test("a create that keeps failing gives up with its error", () => {
  const fs = racingFS(44, Infinity);
  tolerateCreateRace(fs);
  assert.throws(() => fs.open("/gone/x.db", O_RDWR | O_CREAT), /errno 44/);
  assert.equal(fs.calls, 20);
  const other = racingFS(2, Infinity); // another errno: not tried again
  tolerateCreateRace(other);
  assert.throws(() => other.open("/data/x.db", O_RDWR | O_CREAT), /errno 2/);
  assert.equal(other.calls, 1);
});

/** NODEFS's parts over a real temporary folder, as Emscripten has them. */
function folderNodeFS(root: string): EmscriptenNodeFS & { made: string[] } {
  const nodefs = {
    made: [] as string[],
    node_ops: {
      mknod(_parent: unknown, name: string) {
        // Emscripten's own: writeFileSync(path, ""), which truncates.
        Deno.writeTextFileSync(`${root}/${name}`, "");
        return name;
      },
    },
    realPath: () => `${root}/`,
    createNode(_parent: unknown, name: string) {
      nodefs.made.push(name);
      return name;
    },
    tryFSOperation<T>(operation: () => T): T {
      try {
        return operation();
      } catch (error) {
        if ((error as { code?: string }).code !== "EEXIST") throw error;
        throw Object.assign(new Error("EEXIST"), { errno: 20 });
      }
    },
  };
  return nodefs;
}

Deno.test("a file another worker created is never emptied by a create", () => {
  const root = Deno.makeTempDirSync();
  try {
    const nodefs = folderNodeFS(root);
    tolerateCreateRace({
      open: () => undefined,
      filesystems: { NODEFS: nodefs },
    });
    // Another worker created and filled it after this one's last lookup.
    Deno.writeTextFileSync(`${root}/race.db`, "SQLite format 3");
    assert.throws(
      () => nodefs.node_ops.mknod(undefined, "race.db", 0o100644, 0),
      (error: { errno?: number }) => error.errno === 20,
    );
    assert.equal(Deno.readTextFileSync(`${root}/race.db`), "SQLite format 3");
    assert.equal(
      nodefs.node_ops.mknod(undefined, "new.db", 0o100600, 0),
      "new.db",
    );
    assert.equal(Deno.statSync(`${root}/new.db`).mode! & 0o777, 0o600);
    assert.deepEqual(nodefs.made, ["new.db"]);
    // Folders go to Emscripten's own mknod.
    assert.equal(nodefs.node_ops.mknod(undefined, "sub", 0o040755, 0), "sub");
    assert.deepEqual(nodefs.made, ["new.db"]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
