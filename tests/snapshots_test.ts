/**
 * Interpreter snapshots through the gateway: a restored worker answers like
 * a fresh one (its own randomness, fresh module state), a changed
 * `pythonPath` file or option makes a new snapshot instead of restoring a
 * stale heap, and a corrupt snapshot file is rebuilt.
 */

import assert from "node:assert/strict";
import type { GroupOptions } from "../mod.ts";
import { appPath, collectLogs, serveGroup } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

type Answer = {
  random: number;
  token: string;
  uuid: string;
  urandom: string;
  requests: number;
  value: number;
  loaded: number;
  env: string;
  preloaded: boolean;
};

let groups = 0;

/** Starts a one-worker group, asks it once, stops it. */
async function answer(
  group: GroupOptions,
): Promise<Answer> {
  const server = await serveGroup(`snap-${++groups}`, group, [
    ["/", appPath("snapshot_app.wsgi")],
  ]);
  try {
    const response = await fetch(`${server.base}/`);
    assert.equal(response.status, 200);
    return await response.json();
  } finally {
    await server.close();
  }
}

function snapshots(folder: string): string[] {
  return [...Deno.readDirSync(folder)]
    .map((entry) => entry.name)
    .filter((name) => name.endsWith(".snapshot"))
    .sort();
}

for (
  const [mode, extra] of [
    ["Web Worker", { processes: 1 }],
    ["embedded", { processes: 0 }],
  ] as const
) {
  Deno.test(`snapshots (${mode})`, options, async (t) => {
    const folder = await Deno.makeTempDir();
    const library = await Deno.makeTempDir();
    await Deno.writeTextFile(
      `${library}/snapmod.py`,
      "VALUE = 1\nLOADS = globals().get('LOADS', 0) + 1\n",
    );
    const logs = collectLogs();
    const group = (more: Partial<GroupOptions> = {}): GroupOptions => ({
      ...extra,
      pythonPath: [library],
      preload: ["snapmod"],
      snapshot: { folder },
      ...more,
    });
    try {
      let first: Answer;
      await t.step(
        "the first worker saves one, the next start from it",
        async () => {
          first = await answer(group());
          assert.equal(snapshots(folder).length, 1);
          assert.match(logs.text(), /saved interpreter snapshot/);
          const restores = () =>
            logs.text().split("started from snapshot").length - 1;
          const second = await answer(group());
          const third = await answer(group());
          assert.equal(restores(), 2, logs.text());
          for (const restored of [second, third]) {
            assert.equal(restored.preloaded, true);
            assert.equal(restored.value, 1);
            assert.equal(
              restored.loaded,
              1,
              "a restored module was imported again",
            );
            assert.equal(restored.requests, 1, "the script's state is fresh");
          }
          const fields = ["random", "token", "uuid", "urandom"] as const;
          for (const field of fields) {
            const values = new Set([first, second, third].map((a) => a[field]));
            assert.equal(values.size, 3, `${field} repeats across workers`);
          }
        },
      );
      await t.step(
        "a changed pythonPath file makes a new snapshot",
        async () => {
          await Deno.writeTextFile(
            `${library}/snapmod.py`,
            "VALUE = 2\nLOADS = 1\n",
          );
          const changed = await answer(group());
          assert.equal(changed.value, 2, "a stale heap was restored");
          assert.equal(snapshots(folder).length, 2);
        },
      );
      await t.step("a changed option makes a new snapshot", async () => {
        const changed = await answer(group({ env: { SNAP_ENV: "on" } }));
        assert.equal(changed.env, "on");
        assert.equal(snapshots(folder).length, 3);
      });
      await t.step(
        "a truncated or corrupt snapshot is rebuilt, not used",
        async () => {
          const newest = snapshots(folder)
            .map((name) => `${folder}/${name}`)
            .sort((a, b) =>
              Deno.statSync(b).mtime!.getTime() -
              Deno.statSync(a).mtime!.getTime()
            )[0];
          const whole = await Deno.readFile(newest);
          await Deno.writeFile(newest, whole.subarray(0, whole.length >> 1));
          const before = logs.entries.length;
          const rebuilt = await answer(group({ env: { SNAP_ENV: "on" } }));
          assert.equal(rebuilt.env, "on");
          const said = logs.entries.slice(before).map((e) => e.message).join(
            "\n",
          );
          assert.match(said, /truncated/);
          assert.match(said, /saved interpreter snapshot/);
          assert.equal((await Deno.stat(newest)).size, whole.length);
          const flipped = whole.slice();
          flipped[whole.length - 1000] ^= 0xff;
          await Deno.writeFile(newest, flipped);
          const after = logs.entries.length;
          await answer(group({ env: { SNAP_ENV: "on" } }));
          const again = logs.entries.slice(after).map((e) => e.message).join(
            "\n",
          );
          assert.match(again, /corrupt/);
          assert.equal((await Deno.stat(newest)).size, whole.length);
        },
      );
      await t.step("snapshot: false makes none", async () => {
        const count = snapshots(folder).length;
        const plain = await answer({
          ...group({ env: { OTHER: "1" } }),
          snapshot: false,
        });
        assert.equal(plain.preloaded, true);
        assert.equal(snapshots(folder).length, count);
      });
    } finally {
      logs.stop();
      await Deno.remove(folder, { recursive: true });
      await Deno.remove(library, { recursive: true });
    }
  });
}
