import assert from "node:assert/strict";
import { resolveGroupOptions } from "./group_options.ts";

Deno.test("group options: defaults are filled in", () => {
  const config = resolveGroupOptions("plain");
  assert.equal(config.processes, 1);
  assert.equal(config.threads, 1);
  assert.equal(config.requestTimeout, 60);
  assert.equal(config.queueLimit, 256);
  assert.equal(config.restartInterval, 0, "never");
  assert.equal(config.isolation, "process");
  assert.equal(config.permissions, undefined, "the sandbox");
  assert.equal(config.allowNet, undefined);
  assert.deepEqual(config.writable, []);
});

Deno.test("group options: wrong types are TypeErrors, numbers out of range RangeErrors, naming the option", () => {
  const cases: [Record<string, unknown>, string, typeof TypeError][] = [
    [{ requestTimeout: "1" }, "requestTimeout", TypeError],
    [{ processes: "2" }, "processes", TypeError],
    [{ threads: "4" }, "threads", TypeError],
    [{ env: { A: 1 } }, "env", TypeError],
    [{ preload: ["not a module"] }, "preload", TypeError],
    [{ isolation: "vm" }, "isolation", TypeError],
    [{ permissions: "all" }, "permissions", TypeError],
    [{ permissions: ["--read"] }, "permissions", TypeError],
    [{ allowNet: ["http://x"] }, "allowNet", TypeError],
    [{ writable: "/no/such/folder" }, "writable", TypeError],
    [{ processes: -1 }, "processes", RangeError],
    [{ processes: 1.5 }, "processes", RangeError],
    [{ threads: 0 }, "threads", RangeError],
    [{ queueLimit: 0 }, "queueLimit", RangeError],
    [{ requestTimeout: -3 }, "requestTimeout", RangeError],
    [{ queueTimeout: Infinity }, "queueTimeout", RangeError],
    [{ restartInterval: -1 }, "restartInterval", RangeError],
    [{ restartInterval: "1h" }, "restartInterval", TypeError],
    [{ cpuTimeLimit: -1 }, "cpuTimeLimit", RangeError],
    [{ processes: 0, cpuTimeLimit: 5 }, "cpuTimeLimit", TypeError],
    [{ maximumRequests: -1 }, "maximumRequests", RangeError],
    [{ spareWorkers: -1 }, "spareWorkers", RangeError],
    [{ spareWorkers: "1" }, "spareWorkers", TypeError],
    [{ processes: 0, spareWorkers: 1 }, "spareWorkers", TypeError],
  ];
  for (const [options, name, kind] of cases) {
    assert.throws(
      () => resolveGroupOptions("bad", options),
      (error: Error) =>
        error.constructor === kind &&
        error.message.includes(`option "${name}"`),
      JSON.stringify(options),
    );
  }
});

Deno.test("group options: unknown names and contradictions are refused", () => {
  assert.throws(
    () => resolveGroupOptions("bad", { colour: 1 } as never),
    /unknown option "colour"/,
  );
  assert.throws(
    () => resolveGroupOptions("bad", { processes: 0, isolation: "process" }),
    /contradicts isolation/,
  );
  assert.throws(
    () => resolveGroupOptions("bad", { processes: 0, permissions: [] }),
    /option "permissions".*cannot be sandboxed/,
  );
  assert.throws(
    () =>
      resolveGroupOptions("bad", {
        isolation: "thread",
        permissions: ["--deny-read=/etc"],
      }),
    /option "permissions": --deny-\* flags/,
  );
  assert.equal(
    resolveGroupOptions("ok", { permissions: "inherit" }).permissions,
    "inherit",
  );
  assert.throws(() => resolveGroupOptions("no spaces"), TypeError);
});
