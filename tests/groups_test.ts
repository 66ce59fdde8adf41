/**
 * Process groups and application groups, with real Pyodide workers: each
 * daemon-mode control is made to happen for real.
 */

import assert from "node:assert/strict";
import { cpuUsage } from "node:process";
import { createRouter, defineGroup, mountWsgi } from "../mod.ts";
import { appPath, collectLogs, serve, serveGroup, waitFor } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("groups_app.wsgi");
const extraPath = appPath("extra_path");
const appsFolder = appPath("");

async function get(
  url: string,
  init?: RequestInit,
): Promise<[number, string, Headers]> {
  const response = await fetch(url, init);
  return [response.status, await response.text(), response.headers];
}

function cpuMillis(): number {
  const usage = cpuUsage();
  return (usage.user + usage.system) / 1000;
}

Deno.test({
  name:
    "application groups: own interpreters by default, shared by name, %{GLOBAL}",
  ...options,
  fn: async () => {
    const { base, close } = await serveGroup("groups-isolation", {
      processes: 1,
    }, [
      ["/a", app],
      ["/b", app],
      ["/c", app, { applicationGroup: "shared" }],
      ["/d", app, { applicationGroup: "shared" }],
      ["/e", app, { applicationGroup: "%{GLOBAL}" }],
      ["/f", app, { applicationGroup: "%{GLOBAL}" }],
    ]);
    try {
      for (const mount of ["a", "c", "e"]) {
        assert.deepEqual(
          await get(`${base}/${mount}/set?v=${mount}1`).then((r) => r[0]),
          200,
        );
      }
      // /a and /b: separate interpreters, neither globals nor modules shared.
      assert.equal((await get(`${base}/a/get`))[1], "a1 a1");
      assert.equal((await get(`${base}/b/get`))[1], "None None");
      // /c and /d share an interpreter: the imported module is the same
      // object, though each script keeps its own module globals.
      assert.equal((await get(`${base}/d/get`))[1], "None c1");
      assert.equal((await get(`${base}/e/get`))[1], "e1 e1");
      assert.equal((await get(`${base}/f/get`))[1], "None e1");
      const ids = await Promise.all(
        ["a", "b", "c", "e"].map((m) =>
          get(`${base}/${m}/id`).then((r) => r[1])
        ),
      );
      assert.equal(new Set(ids).size, 4, "four interpreters");
      const [, environ] = await get(`${base}/c/settings`);
      assert.match(
        environ,
        /\|False\|False$/,
        "one worker: not multiprocess, not multithread",
      );
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "requestTimeout: 504, the worker is replaced, others keep serving, the CPU is released",
  ...options,
  fn: async () => {
    const logs = collectLogs();
    const { base, group, close } = await serveGroup("groups-timeout", {
      processes: 2,
      requestTimeout: 2,
      pythonPath: [extraPath],
      home: appsFolder,
      env: { GROUP_VAR: "from-env" },
      preload: ["groups_preloaded"],
    }, [
      ["/t", app],
    ]);
    try {
      const [, settings] = await get(`${base}/t/settings`);
      assert.equal(
        settings,
        `from-env|${appsFolder.replace(/\/$/, "")}|preloaded|True|True|False`,
      );
      assert.ok(
        logs.entries.some((e) =>
          e.message.includes("groups_preloaded imported")
        ),
      );
      assert.deepEqual(group.metrics().workers, {
        idle: 2,
        busy: 0,
        starting: 0,
      });

      for (const stuck of ["/t/loop", "/t/sleep?s=60"]) {
        const started = performance.now();
        const hung = get(`${base}${stuck}`);
        // The other worker keeps serving while one is stuck.
        await new Promise((resolve) => setTimeout(resolve, 300));
        for (let i = 0; i < 3; i++) {
          const [status] = await get(`${base}/t/id`);
          assert.equal(status, 200);
        }
        const [status] = await hung;
        const elapsed = performance.now() - started;
        assert.equal(status, 504, stuck);
        assert.ok(
          elapsed >= 1900 && elapsed < 4000,
          `${stuck} answered after ${elapsed} ms`,
        );
        // Let the replacement start, then the process must go quiet.
        await waitFor(
          () => group.metrics().workers.idle === 2,
          20000,
          "a replacement worker",
        );
        const before = cpuMillis();
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const used = cpuMillis() - before;
        assert.ok(
          used < 250,
          `${stuck}: ${used} ms of CPU in 1 s after the timeout`,
        );
      }
      const metrics = group.metrics();
      assert.equal(metrics.timeouts, 2);
      assert.ok(metrics.restarts >= 2);
      assert.ok(logs.entries.some((e) => e.message.includes("requestTimeout")));
      const [, multi] = await get(`${base}/t/settings`);
      assert.match(
        multi,
        /\|True\|False$/,
        "two workers: wsgi.multiprocess is True",
      );
    } finally {
      logs.stop();
      await close();
    }
  },
});

Deno.test({
  name:
    "queue: full or too slow gives 503 with Retry-After, quickly; order is first come first served",
  ...options,
  fn: async () => {
    const group = defineGroup("groups-queue", {
      processes: 1,
      queueTimeout: 0.5,
      queueLimit: 2,
    });
    const fair = defineGroup("groups-fair", { processes: 1, queueTimeout: 30 });
    const router = createRouter();
    mountWsgi(router, "/q", app, { group });
    mountWsgi(router, "/fair", app, { group: fair });
    await Promise.all([group.ready(), fair.ready()]);
    const server = serve(router.fetch);
    try {
      const busy = get(`${server.base}/q/sleep?s=2`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = performance.now();
      const results = await Promise.all(
        [1, 2, 3, 4].map(() =>
          get(`${server.base}/q/id`).then(([status, , headers]) => ({
            status,
            retry: headers.get("retry-after"),
            ms: performance.now() - started,
          }))
        ),
      );
      assert.deepEqual(results.map((r) => r.status), [503, 503, 503, 503]);
      assert.ok(results.every((r) => r.retry !== null));
      const quick = results.filter((r) => r.ms < 300).length;
      assert.equal(
        quick,
        2,
        `two rejected at once (queue full): ${JSON.stringify(results)}`,
      );
      assert.ok(
        results.every((r) => r.ms < 1500),
        "the others after queueTimeout",
      );
      assert.equal((await busy)[0], 200);
      const metrics = group.metrics();
      assert.equal(metrics.rejected, 2);
      assert.equal(metrics.queueTimeouts, 2);
      assert.equal(metrics.queueLength, 0);

      const first = get(`${server.base}/fair/order?n=0&s=0.6`);
      const rest: Promise<[number, string, Headers]>[] = [];
      for (let n = 1; n <= 5; n++) {
        await new Promise((resolve) => setTimeout(resolve, 40));
        rest.push(get(`${server.base}/fair/order?n=${n}`));
      }
      await first;
      const last = await rest[4];
      assert.equal(last[1], "0,1,2,3,4,5");
    } finally {
      await server.close();
      await group.shutdown();
      await fair.shutdown();
    }
  },
});

Deno.test({
  name: "maximumRequests recycles the worker without failing a request",
  ...options,
  fn: async () => {
    const { base, group, close } = await serveGroup("groups-maxreq", {
      processes: 1,
      maximumRequests: 3,
    }, [
      ["/m", app],
    ]);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const [status, id] = await get(`${base}/m/id`);
        assert.equal(status, 200);
        ids.push(id);
      }
      assert.equal(new Set(ids.slice(0, 3)).size, 1);
      assert.notEqual(ids[2], ids[3]);
      assert.equal(new Set(ids.slice(3, 6)).size, 1);
      assert.notEqual(ids[5], ids[6]);
      const burst = await Promise.all(
        Array.from(
          { length: 8 },
          () => get(`${base}/m/id`).then((r) => r[0]),
        ),
      );
      assert.deepEqual(burst, Array(8).fill(200));
      assert.ok(group.metrics().restarts >= 4);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "inactivityTimeout releases idle workers; the next request brings one back",
  ...options,
  fn: async () => {
    const { base, group, close } = await serveGroup("groups-idle", {
      processes: 1,
      inactivityTimeout: 1,
    }, [
      ["/i", app],
    ]);
    try {
      const [, first] = await get(`${base}/i/id`);
      await waitFor(
        () => {
          const { idle, busy, starting } = group.metrics().workers;
          return idle + busy + starting === 0;
        },
        5000,
        "the idle worker to be released",
      );
      const [status, second] = await get(`${base}/i/id`);
      assert.equal(status, 200);
      assert.notEqual(first, second, "a fresh interpreter");
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "a script that never loads answers 500 without a restart storm; a dead worker is replaced",
  ...options,
  fn: async () => {
    const logs = collectLogs();
    const { base, group, close } = await serveGroup("groups-crash", {
      processes: 1,
      requestTimeout: 20,
    }, [
      ["/broken", appPath("groups_broken.wsgi")],
      ["/crash", appPath("groups_crash.wsgi")],
    ]);
    try {
      for (let i = 0; i < 5; i++) {
        const [status, body] = await get(`${base}/broken/`);
        assert.equal(status, 500);
        assert.ok(!body.includes("broken on purpose"));
      }
      assert.ok(
        logs.entries.some((e) => e.message.includes("broken on purpose")),
      );
      assert.equal(
        group.metrics().crashes,
        0,
        "a bad script does not restart workers",
      );
      assert.equal((await get(`${base}/crash/`))[1], "alive");

      const started = performance.now();
      const [status] = await get(`${base}/crash/crash`, {
        method: "POST",
        body: new Uint8Array(300 * 1024),
      });
      assert.ok(
        status === 502 || status === 503,
        `in-flight request got ${status}`,
      );
      assert.ok(performance.now() - started < 2500, "no hang");
      const [after, body] = await get(`${base}/crash/`);
      assert.equal(after, 200);
      assert.equal(body, "alive");
      assert.equal(group.metrics().crashes, 1);
      assert.ok(
        logs.entries.some((e) => e.message.includes("worker crash on purpose")),
      );
    } finally {
      logs.stop();
      await close();
    }
  },
});

Deno.test({
  name:
    "graceful restart: in-flight requests finish on the old worker, new ones get the new",
  ...options,
  fn: async () => {
    const { base, group, close } = await serveGroup("groups-restart", {
      processes: 1,
    }, [
      ["/r", app],
    ]);
    try {
      const [, before] = await get(`${base}/r/id`);
      const slow = get(`${base}/r/sleep?s=1.5`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const restarted = group.restart();
      const during = get(`${base}/r/id`);
      assert.deepEqual((await slow).slice(0, 2), [200, "slept"]);
      await restarted;
      const [status, after] = await during;
      assert.equal(status, 200);
      assert.notEqual(after, before);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "shutdown lets in-flight requests finish, then stops the workers",
  ...options,
  fn: async () => {
    const { base, group, close } = await serveGroup("groups-shutdown", {
      processes: 1,
      gracefulTimeout: 5,
    }, [
      ["/s", app],
    ]);
    try {
      const slow = get(`${base}/s/sleep?s=1`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await group.shutdown();
      assert.deepEqual((await slow).slice(0, 2), [200, "slept"]);
      const [status] = await get(`${base}/s/id`);
      assert.equal(status, 503);
      assert.deepEqual(group.metrics().workers, {
        idle: 0,
        busy: 0,
        starting: 0,
      });
    } finally {
      await close();
    }
  },
});
