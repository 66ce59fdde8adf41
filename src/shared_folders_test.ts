import assert from "node:assert/strict";
import { type EmscriptenFS, tolerateCreateRace } from "./shared_folders.ts";

const O_RDWR = 2;
const O_CREAT = 64;
const O_EXCL = 128;

/** An FS whose first open() fails with EEXIST, as in the race. */
function racingFS(): EmscriptenFS & { calls: number } {
  const fs = {
    calls: 0,
    open(path: unknown) {
      fs.calls++;
      if (fs.calls === 1) {
        throw Object.assign(new Error("EEXIST"), { errno: 20 });
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
    assert.throws(() => fs.open("/data/x.db", flags, 0o644), /EEXIST/);
    assert.equal(fs.calls, 1);
  }
});
