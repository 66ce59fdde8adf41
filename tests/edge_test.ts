/**
 * examples/edge: built once with every permission, then served the way an
 * edge runtime would run it: Deno may read only the example's folder and
 * Pyodide, listen on one port, and
 * nothing else (no writes, no environment, no subprocesses). Both the
 * Flask route and the TypeScript route answer, and Python started from the
 * shipped snapshot.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { spawnCollected, waitFor } from "./helpers.ts";
import { freePort } from "./servers.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");
const DENO = Deno.execPath();

Deno.test("examples/edge serves under an edge runtime's permissions", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const build = await new Deno.Command(DENO, {
    args: ["run", "-A", "examples/edge/server.ts", "--build"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(build.stdout) +
    new TextDecoder().decode(build.stderr);
  assert.equal(build.code, 0, said);
  assert.match(said, /snapshot saved/);
  const port = freePort();
  const reads = [
    `${ROOT}/examples/edge`,
    Deno.realPathSync(`${ROOT}/node_modules`),
  ];
  const { child: server, output, drained } = spawnCollected(DENO, {
    args: [
      "run",
      `--allow-read=${reads.join(",")}`,
      `--allow-net=127.0.0.1:${port}`,
      "examples/edge/server.ts",
      "--port",
      String(port),
    ],
    cwd: ROOT,
  });
  try {
    await waitFor(() => output().includes("Python ready"), 60_000, "ready");
    assert.match(output(), /started from snapshot/);
    assert.doesNotMatch(output(), /saved interpreter snapshot|error/i);
    const flask = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await flask.text(), "Hello from Flask at the edge!\n");
    const info = await fetch(`http://127.0.0.1:${port}/info`);
    assert.equal((await info.json()).runtime, "pyodide");
    const ping = await fetch(`http://127.0.0.1:${port}/api/ping`);
    assert.equal(await ping.text(), "pong\n");
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await drained;
  }
});
