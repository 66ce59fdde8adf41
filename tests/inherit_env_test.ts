/**
 * inheritEnv: os.environ inherits the server's environment, as mod_wsgi
 * daemons inherit Apache's, in a Web Worker, a worker process and
 * embedded; a list or false restricts it; the group's env wins.
 */

import assert from "node:assert/strict";
import { appPath, serveGroup } from "./helpers.ts";
import type { GroupOptions } from "../mod.ts";

const script = appPath("production_app.wsgi");
const names = "INHERIT_A,INHERIT_B,INHERIT_C,HOME";

Deno.env.set("INHERIT_A", "from the server A");
Deno.env.set("INHERIT_B", "from the server B");
Deno.env.set("INHERIT_C", "from the server C");
const env = { INHERIT_C: "from the group" };

const cases: [string, GroupOptions, Record<string, string | null>][] = [
  ["thread, everything", { env }, {
    INHERIT_A: "from the server A",
    INHERIT_B: "from the server B",
    INHERIT_C: "from the group",
    HOME: "/home/pyodide",
  }],
  ["process, a list", {
    env,
    isolation: "process",
    inheritEnv: ["INHERIT_A", "INHERIT_C"],
  }, {
    INHERIT_A: "from the server A",
    INHERIT_B: null,
    INHERIT_C: "from the group",
    HOME: "/home/pyodide",
  }],
  ["embedded, none", { env, processes: 0, inheritEnv: false }, {
    INHERIT_A: null,
    INHERIT_B: null,
    INHERIT_C: "from the group",
    HOME: "/home/pyodide",
  }],
];

for (const [index, [name, options, expected]] of cases.entries()) {
  Deno.test(`inheritEnv (${name})`, async () => {
    const server = await serveGroup(`inherit-${index}`, options, [
      ["/", script],
    ]);
    try {
      const response = await fetch(`${server.base}/os-environ?${names}`);
      assert.deepEqual(await response.json(), expected);
    } finally {
      await server.close();
    }
  });
}

Deno.test("inheritEnv is checked", async () => {
  const { defineGroup } = await import("../mod.ts");
  for (const bad of ["yes", ["A=B"], [1]]) {
    assert.throws(
      () => defineGroup("inherit-bad", { inheritEnv: bad as never }),
      (error) =>
        error instanceof TypeError && /"inheritEnv"/.test(error.message),
    );
  }
});
