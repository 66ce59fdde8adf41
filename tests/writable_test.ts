/**
 * The `writable` group option through the gateway, in every mode: writes
 * land in the host folder and persist; the script's folder is read-only and
 * anywhere else is refused with an error that names the option to use;
 * /tmp stays scratch space; two workers writing one SQLite file at once lose
 * no row; and where Deno itself may not write, Python's error and the log
 * name the missing `--allow-write`. (tests/files_test.ts covers
 * python/files.py on its own.)
 */

import assert from "node:assert/strict";
import { appPath, exists, printedPort, serveGroup } from "./helpers.ts";
import { okJson } from "./net_modes.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const script = appPath("writable_app.wsgi");

const modes = [
  { name: "Web Worker", options: { processes: 2 } },
  { name: "process", options: { processes: 2, isolation: "process" as const } },
  { name: "embedded", options: { processes: 0 } },
];

for (const mode of modes) {
  Deno.test(`writable folders (${mode.name})`, options, async (t) => {
    const data = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "wsgi-" }));
    const server = await serveGroup(
      `writable-${mode.name.replace(" ", "-").toLowerCase()}`,
      { ...mode.options, writable: [data] },
      [["/", script, { environ: { DATA: data } }]],
    );
    try {
      await t.step(
        "writes land where they persist, or are refused",
        async () => {
          const result = await okJson(`${server.base}/write`);
          assert.equal(result.data.ok, true, JSON.stringify(result.data));
          assert.equal(Deno.readTextFileSync(`${data}/log.txt`), "línea\n");
          assert.equal(result.tmp.ok, true, JSON.stringify(result.tmp));
          for (const where of ["script", "elsewhere", "mkdir"]) {
            const attempt = result[where];
            assert.equal(
              attempt.ok,
              false,
              `${where}: ${JSON.stringify(attempt)}`,
            );
            assert.equal(attempt.type, "PermissionError");
          }
          assert.match(result.script.message, /WSGI script's folder/);
          assert.match(result.elsewhere.message, /writable/);
          assert.match(result.mkdir.message, /writable/);
          assert.ok(
            !exists(appPath("written.txt")),
            "the script folder was written",
          );
          assert.ok(!exists("/var/tmp/deno-wsgi-lost.txt"));
        },
      );

      await t.step(
        "two workers write one SQLite file: no row lost",
        async () => {
          const count = 40;
          const totals = await Promise.all(
            ["a", "b", "c", "d"].map((worker) =>
              okJson(`${server.base}/sqlite?worker=${worker}&count=${count}`)
            ),
          );
          assert.ok(Math.max(...totals) === 4 * count, `totals ${totals}`);
          const check = new Deno.Command("python3", {
            args: [
              "-c",
              "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from rows').fetchone()[0])",
              `${data}/rows.db`,
            ],
            stdout: "piped",
          }).outputSync();
          assert.equal(
            new TextDecoder().decode(check.stdout).trim(),
            `${4 * count}`,
          );
        },
      );
    } finally {
      await server.close();
      Deno.removeSync(data, { recursive: true });
    }
  });
}

Deno.test(
  "writable folder without Deno's --allow-write: the error names the flag",
  options,
  async () => {
    const data = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "wsgi-" }));
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-sys",
        "--allow-run", // its worker is a child Deno process
        appPath("writable_server.ts"),
        script,
        data,
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    try {
      const port = await printedPort(child);
      const result = await okJson(`http://127.0.0.1:${port}/write`);
      assert.equal(result.data.ok, false, JSON.stringify(result.data));
      assert.equal(result.data.type, "PermissionError");
      assert.match(result.data.message, new RegExp(`--allow-write=${data}`));
      assert.ok(!exists(`${data}/log.txt`));
    } finally {
      child.kill("SIGTERM");
      await child.status;
      Deno.removeSync(data, { recursive: true });
    }
    assert.match(await stderr, /Deno permission --allow-write=.* is missing/);
  },
);
