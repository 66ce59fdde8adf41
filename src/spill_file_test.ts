import assert from "node:assert/strict";
import { join } from "node:path";
import { configureLogging } from "./logging.ts";
import { openSpillFile } from "./spill_file.ts";

Deno.test("a spill file gives back what was written, in 1 MiB blocks, and leaves no file behind", async () => {
  const folder = await Deno.makeTempDir({ prefix: "spill-test-" });
  try {
    const file = await openSpillFile(folder);
    assert.ok(file);
    assert.deepEqual([...Deno.readDirSync(folder)], [], "unlinked at once");
    const sizes = [1000, 70_000, 2 * 1024 * 1024, 5];
    let written = 0;
    for (const size of sizes) {
      const chunk = new Uint8Array(size);
      for (let i = 0; i < size; i++) chunk[i] = (written + i) % 251;
      await file.write(chunk);
      written += size;
    }
    const reader = await file.reread();
    const blocks: number[] = [];
    let offset = 0;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      blocks.push(value.length);
      for (let i = 0; i < value.length; i += 4093) {
        assert.equal(value[i], (offset + i) % 251, `byte ${offset + i}`);
      }
      offset += value.length;
    }
    assert.equal(offset, written);
    assert.deepEqual(blocks.slice(0, 2), [1024 * 1024, 1024 * 1024]);
    file.close();
    file.close();
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("where the server may not write, there is no file, said once per folder", async () => {
  const messages: string[] = [];
  configureLogging({ level: "warn", sink: (e) => messages.push(e.message) });
  const parent = await Deno.makeTempDir({ prefix: "spill-test-" });
  try {
    const missing = join(parent, "missing", "folder");
    assert.equal(await openSpillFile(missing), undefined);
    assert.equal(await openSpillFile(missing), undefined);
    assert.equal(messages.length, 1);
    assert.match(
      messages[0],
      /^request bodies larger than bodyBufferSize are kept in memory \(up to limitRequestBody\): the server may not write to .*missing\/folder/,
    );
  } finally {
    configureLogging({ sink: null, level: "info" });
    await Deno.remove(parent, { recursive: true });
  }
});
