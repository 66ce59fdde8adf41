import assert from "node:assert/strict";
import { helpText, type Option, parseOptions } from "./options.ts";

const OPTIONS: Record<string, Option> = {
  rounds: ["1", "rounds"],
  servers: ["a,b", "servers"],
  group: ["{}", "group"],
  json: [undefined, "a file"],
  quick: [false, "a flag"],
};

Deno.test("parseOptions: defaults, the task's --, lists and JSON", () => {
  const options = parseOptions("usage", OPTIONS, {
    args: ["--", "--rounds", "3"],
  });
  assert.equal(options.whole("rounds"), 3);
  assert.deepEqual(options.list("servers", ["a", "b", "c"]), ["a", "b"]);
  assert.deepEqual(options.object("group"), {});
  assert.equal(options.text("json"), undefined);
  assert.equal(options.flag("quick"), false);
});

Deno.test("parseOptions: a bad value names its option", () => {
  const bad = (args: string[]) => parseOptions("usage", OPTIONS, { args });
  assert.throws(() => bad(["--rounds", "0"]).whole("rounds"), /--rounds/);
  assert.throws(
    () => bad(["--servers", "x"]).list("servers", ["a"]),
    /--servers: unknown x/,
  );
  assert.throws(() => bad(["--group", "[1]"]).object("group"), TypeError);
  assert.throws(() => bad(["stray"]), /positional/i);
});

Deno.test("helpText: a line per option, with its default", () => {
  assert.equal(
    helpText("usage", { rounds: OPTIONS.rounds, json: OPTIONS.json }),
    `usage\n  --rounds${" ".repeat(13)}rounds (1)\n  --json${
      " ".repeat(15)
    }a file`,
  );
});
