import assert from "node:assert/strict";
import { resolveGroupOptions } from "./group_options.ts";
import {
  allowSocket,
  covered,
  processPermissions,
  threadPermissions,
} from "./permissions.ts";

const data = Deno.makeTempDirSync();

Deno.test("permissions: narrow flags get the reads a worker needs", () => {
  const config = resolveGroupOptions("p", {
    isolation: "process",
    permissions: ["--allow-env"],
    snapshot: false,
  });
  const { flags, reads } = processPermissions(config, []);
  assert.ok(flags.includes("--allow-env"));
  const read = flags.find((flag) => flag.startsWith("--allow-read="));
  assert.ok(read, "a read allow-list");
  assert.ok(reads && reads.some((path) => path.endsWith("pyodide")));
  assert.ok(!flags.some((flag) => flag.startsWith("--allow-write")));
});

Deno.test("permissions: allowNet replaces the network flags", () => {
  const config = resolveGroupOptions("p", {
    isolation: "process",
    permissions: ["--allow-net", "--allow-env"],
    allowNet: ["127.0.0.1:5432", "api.example.com"],
  });
  const { flags } = processPermissions(config, []);
  assert.deepEqual(
    flags.filter((flag) => flag.startsWith("--allow-net")),
    ["--allow-net=127.0.0.1:5432,api.example.com"],
  );
});

Deno.test("permissions: writable folders the server may write are granted", () => {
  const config = resolveGroupOptions("p", {
    isolation: "process",
    permissions: ["--allow-write=/srv/other"],
    writable: [data],
    snapshot: false,
  });
  const { flags, reads } = processPermissions(config, []);
  assert.ok(flags.includes(`--allow-write=/srv/other,${data}`), String(flags));
  assert.ok(reads?.includes(data));
});

Deno.test("permissions: -A stays all", () => {
  const config = resolveGroupOptions("p", {
    isolation: "process",
    permissions: ["-A"],
  });
  assert.deepEqual(processPermissions(config, []).flags, ["--allow-all"]);
});

Deno.test("permissions: covered() compares whole path segments", () => {
  assert.ok(covered("/srv/app", ["/srv/app"]));
  assert.ok(covered("/srv/app/lib", ["/srv/app"]));
  assert.ok(!covered("/srv/application", ["/srv/app"]));
});

const library = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("permissions: the default sandbox reads what it runs, not the library's folder, and holds nothing else", () => {
  const config = resolveGroupOptions("p", { writable: [data] });
  const { flags, reads } = processPermissions(config, []);
  assert.ok(reads?.includes(`${library}/src`), String(reads));
  assert.ok(!reads?.includes(library), "not the whole checkout (.git, .env)");
  for (const name of ["env", "run", "ffi", "sys", "import"]) {
    assert.ok(
      !flags.some((flag) => flag.startsWith(`--allow-${name}`)),
      `${name}: ${flags}`,
    );
  }
  // The test runs with -A: the server's network passes on, writes are
  // only the writable folder (and the snapshot folder, if on).
  assert.ok(flags.includes("--allow-net"), String(flags));
  const write = flags.find((flag) => flag.startsWith("--allow-write="));
  assert.ok(write?.split("=")[1].split(",").includes(data), String(flags));
});

Deno.test("permissions: snapshots are readable, and writable only where they are written", () => {
  const folder = Deno.makeTempDirSync();
  try {
    const writing = resolveGroupOptions("p", { snapshot: { folder } });
    const write = processPermissions(writing, []).flags.find((flag) =>
      flag.startsWith("--allow-write=")
    );
    assert.equal(write, `--allow-write=${folder}`);
    const reading = resolveGroupOptions("p", {
      snapshot: { folder, write: false },
    });
    const { flags, reads } = processPermissions(reading, []);
    assert.ok(reads?.includes(folder));
    assert.ok(!flags.some((flag) => flag.startsWith("--allow-write")));
  } finally {
    Deno.removeSync(folder);
  }
});

Deno.test("permissions: a Web Worker gets the same sandbox as worker options", () => {
  const config = resolveGroupOptions("p", {
    isolation: "thread",
    allowNet: ["127.0.0.1:5432"],
    permissions: ["--allow-env=TZ"],
    snapshot: false,
  });
  const { permissions, reads } = threadPermissions(config, []);
  assert.deepEqual(
    { ...permissions as Deno.PermissionOptionsObject, read: undefined },
    {
      env: ["TZ"],
      sys: false,
      run: false,
      ffi: false,
      import: false,
      write: false,
      net: ["127.0.0.1:5432"],
      read: undefined,
    },
  );
  assert.deepEqual((permissions as Deno.PermissionOptionsObject).read, reads);
  const inherit = resolveGroupOptions("p", {
    isolation: "thread",
    permissions: "inherit",
  });
  assert.equal(threadPermissions(inherit, []).permissions, "inherit");
});

Deno.test('permissions: "inherit" gives a process the server\'s full permissions', () => {
  const config = resolveGroupOptions("p", { permissions: "inherit" });
  // The test runs with -A.
  assert.deepEqual(processPermissions(config, []).flags, ["--allow-all"]);
});

Deno.test("permissions: allowSocket adds a socket to read, write and net lists, never narrows", () => {
  const cases: [string[], string[]][] = [
    [["--allow-read=/a", "--allow-net"], [
      "--allow-read=/a,/s",
      "--allow-net",
      "--allow-write=/s",
    ]],
    [["--allow-read", "--allow-write=/w", "--allow-net=db:5432"], [
      "--allow-read",
      "--allow-write=/w,/s",
      "--allow-net=db:5432,unix:/s",
    ]],
    [["--allow-all"], ["--allow-all"]],
    [[], ["--allow-read=/s", "--allow-write=/s", "--allow-net=unix:/s"]],
  ];
  for (const [flags, expected] of cases) {
    assert.deepEqual(allowSocket(flags, "/s"), expected, flags.join(" "));
  }
});
