import assert from "node:assert/strict";
import { resolveGroupOptions } from "./config.ts";
import { covered, processPermissions } from "./permissions.ts";

const data = Deno.makeTempDirSync();

Deno.test("permissions: narrow flags get the reads a worker needs", () => {
  const config = resolveGroupOptions("p", {
    isolation: "process",
    permissions: ["--allow-env"],
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
  });
  const { flags, reads } = processPermissions(config, []);
  assert.ok(flags.includes(`--allow-write=${data},/srv/other`), String(flags));
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
