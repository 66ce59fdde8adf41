import assert from "node:assert/strict";
import { resolveMountOptions } from "./mount_options.ts";

Deno.test("mount options: checked, with the script made absolute", () => {
  const folder = Deno.makeTempDirSync();
  const script = `${folder}/app.wsgi`;
  Deno.writeTextFileSync(script, "");
  try {
    const settings = resolveMountOptions("mountWsgi", script, {
      callable: "app",
      environ: { KEY: "value" },
    });
    assert.equal(settings.scriptPath, script);
    assert.equal(settings.callable, "app");
    assert.deepEqual(settings.environ, { KEY: "value" });
    assert.equal(settings.reload, true);
    assert.equal(settings.passAuthorization, false);
    const refused: [unknown, RegExp][] = [
      [{ callable: "1bad" }, /option "callable"/],
      [{ reload: "yes" }, /option "reload"/],
      [{ passAuthorization: 1 }, /option "passAuthorization"/],
      [{ environ: { "": "x" } }, /option "environ"/],
      [{ environ: { A: "a\0b" } }, /NUL/],
      [{ colour: 1 }, /unknown option "colour"/],
    ];
    for (const [options, message] of refused) {
      assert.throws(
        () => resolveMountOptions("mountWsgi", script, options),
        (error: Error) =>
          error instanceof TypeError && message.test(error.message),
        JSON.stringify(options),
      );
    }
    assert.throws(
      () => resolveMountOptions("mountWsgi", `${folder}/none.wsgi`, {}),
      /cannot be read/,
    );
    assert.throws(
      () => resolveMountOptions("mountWsgi", folder, {}),
      /is not a file/,
    );
  } finally {
    Deno.removeSync(folder, { recursive: true });
  }
});
