import assert from "node:assert/strict";
import { ApacheConfigError, lexConfig, splitArguments } from "./lexer.ts";

Deno.test("lexer: quotes, escaped quotes, and backslashes kept outside quotes", () => {
  assert.deepEqual(
    splitArguments(
      `SetEnv A "two words" 'single "q"' "esc \\" q" C:\\dir\\app.wsgi`,
      "f",
      1,
    ),
    ["SetEnv", "A", "two words", 'single "q"', 'esc " q', "C:\\dir\\app.wsgi"],
  );
});

Deno.test("lexer: comments, blank lines, continuations, sections", () => {
  const lines = lexConfig(
    [
      "# a comment",
      "",
      "  <VirtualHost *:80>",
      "    WSGIDaemonProcess x \\",
      "        processes=2 \\",
      "        threads=3",
      "    # indented comment",
      "  </virtualhost>",
    ].join("\n"),
    "site.conf",
  );
  assert.deepEqual(lines.map((l) => [l.kind, l.name, l.args, l.line]), [
    ["open", "VirtualHost", ["*:80"], 3],
    ["directive", "WSGIDaemonProcess", ["x", "processes=2", "threads=3"], 4],
    ["close", "virtualhost", [], 8],
  ]);
});

Deno.test("lexer: an open quote and a bad section line are errors with file:line", () => {
  assert.throws(
    () => lexConfig('\nSetEnv A "open', "bad.conf"),
    (error: Error) =>
      error instanceof ApacheConfigError &&
      error.message.startsWith("bad.conf:2: unterminated"),
  );
  assert.throws(
    () => lexConfig("<Directory /x", "bad.conf"),
    /bad\.conf:1: section line does not end with ">"/,
  );
});
