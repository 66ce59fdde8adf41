import assert from "node:assert/strict";
import { isCodeFile, watchCode } from "./change_watch.ts";

Deno.test("isCodeFile: Python sources and WSGI scripts, not bytecode caches", () => {
  assert.ok(isCodeFile("/srv/app/models.py"));
  assert.ok(isCodeFile("/srv/app/app.wsgi"));
  assert.ok(!isCodeFile("/srv/app/static/site.css"));
  assert.ok(!isCodeFile("/srv/app/__pycache__/models.cpython-314.py"));
});

Deno.test("watchCode: one call per burst of code changes, none for other files", async () => {
  const folder = await Deno.makeTempDir();
  const seen: string[] = [];
  const watch = watchCode([folder], (path) => seen.push(path), {
    settle: 1000,
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 100));
    await Deno.writeTextFile(`${folder}/notes.txt`, "x");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(seen, []);
    await Deno.writeTextFile(`${folder}/models.py`, "A = 1\n");
    await Deno.writeTextFile(`${folder}/models.py`, "A = 2\n");
    const deadline = Date.now() + 5000;
    while (seen.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Generous: a second call would come 1 s after a late second event.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(seen, [`${folder}/models.py`]);
  } finally {
    watch.close();
    await Deno.remove(folder, { recursive: true });
  }
});
