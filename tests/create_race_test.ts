/**
 * Workers that create the same file in a `writable` folder at the same
 * moment (src/shared_folders.ts): open(O_CREAT) never fails with EEXIST or
 * ENOENT, and a fresh SQLite database created by several workers at once is
 * never opened read-only ("attempt to write a readonly database") nor
 * emptied by another worker's create (its table or rows lost).
 */

import assert from "node:assert/strict";
import { appPath, serveGroup } from "./helpers.ts";
import { okJson } from "./net_modes.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

// Web Workers only: child processes share the host folder the same way
// (the race showed there too), and each mode costs two Pyodide starts.
const modes = [{ name: "Web Worker", options: { processes: 2 } }];

/** Rows per fresh database file, counted by the host's sqlite3. */
function hostCounts(data: string, rounds: number): number[] {
  const script =
    "import sqlite3,sys\nfor r in range(int(sys.argv[2])):\n print(sqlite3.connect('%s/round-%d.db' % (sys.argv[1], r)).execute('select count(*) from rows').fetchone()[0])";
  const output = new Deno.Command("python3", {
    args: ["-c", script, data, String(rounds)],
    stdout: "piped",
  }).outputSync();
  return new TextDecoder().decode(output.stdout).trim().split("\n").map(
    Number,
  );
}

for (const mode of modes) {
  Deno.test(
    `creation races between workers (${mode.name})`,
    options,
    async (t) => {
      const data = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "wsgi-" }));
      const server = await serveGroup(
        `create-race-${mode.name.replace(" ", "-").toLowerCase()}`,
        { ...mode.options, writable: [data] },
        [["/", appPath("create_race.wsgi"), { environ: { DATA: data } }]],
      );
      try {
        await t.step(
          "open(O_CREAT) of a file that another worker creates",
          async () => {
            // Both workers create and delete one name 1,500 times each. Before
            // the fix, 10 to 40 of those opens failed with EEXIST, and 6 to 27
            // with ENOENT (FileNotFoundError).
            const answers = await Promise.all(
              [1, 2].map(() => okJson(`${server.base}/churn?times=1500`)),
            );
            assert.deepEqual(answers, [{}, {}]);
          },
        );
        await t.step(
          "a fresh SQLite file created by four requests at once",
          async () => {
            // Before the fix, 1 to 3 in 100 such rounds (8 requests, 4
            // workers) failed with "attempt to write a readonly database";
            // before the second, about 1 in 400 rounds lost the table or
            // rows of a worker to another's create, which emptied the file.
            const rounds = 40;
            const failures: string[] = [];
            for (let round = 0; round < rounds; round++) {
              const answers = await Promise.all(
                ["a", "b", "c", "d"].map((worker) =>
                  okJson(
                    `${server.base}/sqlite?round=${round}&worker=${worker}`,
                  )
                ),
              );
              for (const { error } of answers) if (error) failures.push(error);
            }
            assert.deepEqual(failures, []);
            assert.deepEqual(hostCounts(data, rounds), Array(rounds).fill(4));
          },
        );
      } finally {
        await server.close();
        Deno.removeSync(data, { recursive: true });
      }
    },
  );
}
