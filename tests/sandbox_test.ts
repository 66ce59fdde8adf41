/**
 * The sandbox: from Python, through `import js`, every Deno capability a
 * worker was not given is refused by Deno itself (NotCapable, naming the
 * permission), in every mode that has workers; the server keeps serving.
 * Embedded mode cannot be sandboxed: it warns once, and the test shows
 * that it is not.
 */

import assert from "node:assert/strict";
import type { GroupOptions } from "../mod.ts";
import {
  appPath,
  collectLogs,
  serveGroup,
  spawnCollected,
  waitFor,
} from "./helpers.ts";
import { freePort } from "./servers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("sandbox_app.wsgi");
const repo = new URL("../", import.meta.url).pathname;

/** One attempt: what, its argument, and the permission that refuses it. */
type Attempt = [what: string, arg: string, permission: string | null];

function attempts(data: string, outside: string): Attempt[] {
  const host = `/tmp/deno-wsgi-sandbox-${crypto.randomUUID()}`;
  return [
    ["read", "/etc/passwd", "read"],
    ["read", `${repo}deno.json`, "read"],
    ["read", `${repo}README.md`, "read"],
    ["read", "/proc/self/environ", "read"],
    ["read", "/proc/thread-self/environ", "read"],
    ["read", app, null], // its own script folder is readable
    ["write", app, "write"], // never its own code
    ["write", host, "write"],
    ["write", `${data}/note.txt`, null], // its writable folder
    ["run", "id", "run"],
    ["env-all", "", "env"],
    ["env-get", "SANDBOX_TEST_SECRET", "env"],
    ["env-get", "SANDBOX_TEST_SHOWN", "env"], // in os.environ, not Deno.env
    ["fetch", `http://${outside}/`, "net"],
    ["connect", outside, "net"],
    ["ffi", "libc.so.6", "ffi"],
    ["sys", "hostname", "sys"],
    ["sys", "osRelease", "sys"],
    ["sys", "loadavg", "sys"],
    ["sys", "networkInterfaces", "sys"],
    ["sys", "systemMemoryInfo", "sys"],
    ["sys", "uid", "sys"],
  ];
}

async function tryIt(base: string, what: string, arg: string) {
  const query = new URLSearchParams({ what, arg });
  const response = await fetch(`${base}/s/try?${query}`);
  return { status: response.status, body: await response.text() };
}

const modes: { name: string; options: GroupOptions }[] = [
  { name: "process (the default)", options: {} },
  { name: "thread", options: { isolation: "thread" } },
];

for (const mode of modes) {
  Deno.test({
    name:
      `sandbox (${mode.name}): read, write, run, env, net, ffi and sys through js.Deno are refused by Deno, naming the permission; the server serves on`,
    ...options,
    fn: async () => {
      Deno.env.set("SANDBOX_TEST_SECRET", "server-only");
      Deno.env.set("SANDBOX_TEST_SHOWN", "inherited");
      const data = await Deno.makeTempDir({ prefix: "sandbox_data_" });
      const allowed = `127.0.0.1:${freePort()}`;
      const outside = `127.0.0.1:${freePort()}`;
      const name = `sandbox-${mode.name.split(" ")[0]}`;
      const { base, group, close } = await serveGroup(name, {
        ...mode.options,
        writable: [data],
        allowNet: [allowed],
        inheritEnv: ["SANDBOX_TEST_SHOWN"],
      }, [["/s", app]]);
      try {
        const failures: string[] = [];
        for (const [what, arg, permission] of attempts(data, outside)) {
          const { status, body } = await tryIt(base, what, arg);
          const label = `${what} ${arg}: ${status} ${body}`;
          if (status !== 200) failures.push(label);
          else if (permission === null) {
            if (!body.startsWith("allowed")) failures.push(label);
          } else if (
            !/^refused: (NotCapable|PermissionDenied): /.test(body) ||
            !body.includes(`${permission} access`)
          ) {
            failures.push(`${label} (expected ${permission} refused)`);
          }
        }
        assert.deepEqual(failures, []);
        // Deno's refusal leaves the worker as it was: no restart.
        const hello = await fetch(`${base}/s/`);
        assert.equal(await hello.text(), "hello");
        const metrics = group.metrics();
        assert.equal(metrics.crashes, 0);
        assert.equal(metrics.restarts, 0);
        assert.equal(
          Deno.readTextFileSync(`${data}/note.txt`),
          "",
          "the writable folder was written",
        );
      } finally {
        await close();
        await Deno.remove(data, { recursive: true });
      }
    },
  });
}

Deno.test({
  name:
    "sandbox (embedded): cannot be sandboxed; a warning says so once, and js.Deno has the server's permissions",
  ...options,
  fn: async () => {
    const logs = collectLogs();
    const first = await serveGroup("sandbox-embedded", { processes: 0 }, [
      ["/s", app],
    ]);
    const second = await serveGroup("sandbox-embedded-2", { processes: 0 }, [
      ["/s", app],
    ]);
    try {
      const warnings = logs.entries.filter((entry) =>
        entry.level === "warn" && entry.message.includes("embedded mode")
      );
      assert.equal(warnings.length, 1, logs.text());
      assert.match(warnings[0].message, /cannot|with every permission/);
      const read = await tryIt(first.base, "read", "/etc/passwd");
      assert.match(read.body, /^allowed: root:/);
    } finally {
      logs.stop();
      await first.close();
      await second.close();
    }
  },
});

const elsewhere: [string, string[]][] = [
  ["all permissions (the channel is a Unix socket)", ["-A"]],
  // No write to /tmp and no net for a Unix socket: stdin and stdout serve.
  [
    "only --allow-read --allow-run --allow-net=127.0.0.1 (the channel is the pipes)",
    [
      "--allow-read",
      "--allow-run",
      "--allow-net=127.0.0.1",
    ],
  ],
];

for (const [permissions, flags] of elsewhere) {
  Deno.test({
    name:
      `a server whose main module has no deno.json of its own starts sandboxed worker processes (they read the Pyodide the server resolved), with ${permissions}`,
    ...options,
    fn: async () => {
      // Outside the repository: the server resolves npm:pyodide without this
      // library's deno.json, the worker process (under src/) with it.
      const folder = await Deno.makeTempDir({ prefix: "sandbox-elsewhere-" });
      const port = await freePort();
      await Deno.writeTextFile(
        `${folder}/server.ts`,
        `import { createRouter, defineGroup, mountWsgi } from "${repo}mod.ts";
        const group = defineGroup("elsewhere", { processes: 1 });
        const router = createRouter();
        mountWsgi(router, "/", "${repo}examples/hello/app.wsgi", { group });
        Deno.serve({ hostname: "127.0.0.1", port: ${port}, onListen() {} }, router.fetch);
        `,
      );
      const { child, output, drained } = spawnCollected(Deno.execPath(), {
        args: ["run", "--no-prompt", ...flags, `${folder}/server.ts`],
        cwd: folder,
      });
      try {
        let body = "";
        await waitFor(
          async () => {
            try {
              const response = await fetch(`http://127.0.0.1:${port}/`);
              body = await response.text();
              return response.status === 200;
            } catch {
              return false; // not listening yet
            }
          },
          60_000,
          "the worker process to answer",
        );
        assert.equal(body, "Hello World!");
      } finally {
        child.kill("SIGTERM");
        await child.status;
        await drained;
        await Deno.remove(folder, { recursive: true });
      }
      assert.doesNotMatch(output(), /NotCapable/);
    },
  });
}
