/**
 * Process groups and application groups, with real Pyodide workers over
 * real loopback HTTP: each daemon-mode control is made to happen for real.
 */

import assert from "node:assert/strict";
import {
  createRouter,
  defineGroup,
  type GroupMetrics,
  mountWsgi,
} from "../mod.ts";
import { appPath, collectLogs, serve, serveGroup, waitFor } from "./helpers.ts";
import { cpuOver, descendants } from "./process_tree.ts";

const repo = new URL("../", import.meta.url);

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("groups_app.wsgi");
const extraPath = appPath("extra_path");

async function get(
  url: string,
  init?: RequestInit,
): Promise<[number, string, Headers]> {
  const response = await fetch(url, init);
  return [response.status, await response.text(), response.headers];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function live(metrics: GroupMetrics): number {
  const { idle, busy, starting } = metrics.workers;
  return idle + busy + starting;
}

Deno.test({
  name:
    "application groups: own interpreters by default, shared by name, %{GLOBAL}",
  ...options,
  fn: async () => {
    const { base, group, close } = await serveGroup("groups-isolation", {
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
        assert.equal((await get(`${base}/${mount}/set?v=${mount}1`))[0], 200);
      }
      // /a and /b: separate interpreters, neither globals nor modules shared.
      assert.equal((await get(`${base}/a/get`))[1], "a1 a1");
      assert.equal((await get(`${base}/b/get`))[1], "None None");
      // /c and /d share an interpreter, and as under mod_wsgi one script
      // file is loaded once per interpreter: they share its globals too.
      assert.equal((await get(`${base}/d/get`))[1], "c1 c1");
      assert.equal((await get(`${base}/e/get`))[1], "e1 e1");
      assert.equal((await get(`${base}/f/get`))[1], "e1 e1");
      const ids = await Promise.all(
        ["a", "b", "c", "d", "e", "f"].map((m) =>
          get(`${base}/${m}/id`).then((r) => r[1])
        ),
      );
      // A script module per interpreter: /a, /b, /c = /d, /e = /f.
      assert.equal(new Set(ids).size, 4);
      assert.equal(ids[2], ids[3]);
      assert.equal(ids[4], ids[5]);
      const [a, b, c, d, e, f] = await Promise.all(
        ["a", "b", "c", "d", "e", "f"].map((m) =>
          get(`${base}/${m}/interpreter`).then((r) => r[1])
        ),
      );
      assert.equal(c, d, "same application group, same interpreter");
      assert.equal(e, f, "%{GLOBAL}: the worker's main interpreter");
      assert.equal(new Set([a, b, c, e]).size, 4, "four interpreters");
      const [, environ] = await get(`${base}/c/settings`);
      assert.match(
        environ,
        /\|False\|False$/,
        "one worker: not multiprocess, not multithread",
      );
      const metrics = group.metrics();
      assert.equal(metrics.mode, "processes", "process isolation by default");
      assert.equal(metrics.processes, 1);
      assert.deepEqual(metrics.workers, { idle: 1, busy: 0, starting: 0 });
      assert.equal(metrics.starts, 1);
      assert.equal(metrics.requests, 21);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "thread workers: requestTimeout ends a Python loop and a time.sleep() with 504, the worker is replaced, others keep serving, the CPU is released; pythonPath, home, env, preload",
  ...options,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "groups_home_" });
    const logs = collectLogs();
    const { base, group, close } = await serveGroup("groups-timeout", {
      processes: 2,
      isolation: "thread",
      // Restored from a snapshot (the key does not cover home), a worker
      // would not import its preload again, and this counts the imports.
      snapshot: false,
      requestTimeout: 2,
      pythonPath: [extraPath],
      home,
      writable: [home],
      env: { GROUP_VAR: "from-env" },
      preload: ["groups_preloaded"],
    }, [
      ["/t", app],
    ]);
    try {
      // Preloaded at worker start, before any request (once per worker).
      assert.equal(
        logs.entries.filter((e) =>
          e.message.includes("groups_preloaded imported")
        ).length,
        2,
      );
      const [, settings] = await get(`${base}/t/settings`);
      assert.equal(
        settings,
        `from-env|${await Deno.realPath(home)}|preloaded|True|True|False`,
      );
      // A writable home, with the server's permissions: writing works.
      assert.equal((await get(`${base}/t/write`))[1], "written");
      assert.equal(await Deno.readTextFile(`${home}/probe.txt`), "written");
      assert.deepEqual(group.metrics().workers, {
        idle: 2,
        busy: 0,
        starting: 0,
      });

      for (const stuck of ["/t/loop", "/t/sleep?s=60"]) {
        const started = performance.now();
        const hung = get(`${base}${stuck}`);
        // The other worker keeps serving while one is stuck.
        await sleep(300);
        assert.deepEqual(group.metrics().workers, {
          idle: 1,
          busy: 1,
          starting: 0,
        });
        for (let i = 0; i < 3; i++) {
          const [status] = await get(`${base}/t/id`);
          assert.equal(status, 200);
        }
        const [status] = await hung;
        const elapsed = performance.now() - started;
        assert.equal(status, 504, stuck);
        assert.ok(
          elapsed >= 1900 && elapsed < 3000,
          `${stuck} answered after ${elapsed} ms`,
        );
        assert.equal(group.metrics().workers.starting, 1, "replacing it");
        // Let the replacement start, then the process must go quiet.
        await waitFor(
          () => group.metrics().workers.idle === 2,
          20000,
          "a replacement worker",
        );
        const used = await cpuOver(1000);
        assert.ok(
          used < 300,
          `${stuck}: ${used} ms of CPU in 1 s after the timeout`,
        );
      }
      const metrics = group.metrics();
      assert.equal(metrics.timeouts, 2);
      assert.equal(metrics.restarts, 2);
      assert.equal(metrics.starts, 4);
      assert.equal(metrics.stuck, 0);
      assert.ok(logs.entries.some((e) => e.message.includes("requestTimeout")));
    } finally {
      logs.stop();
      await close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
Deno.test({
  name:
    "process workers: a loop that swallows KeyboardInterrupt is killed on requestTimeout and the CPU comes back; permissions are narrow",
  ...options,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "groups_home_" });
    const logs = collectLogs();
    const { base, group, close } = await serveGroup("groups-process", {
      processes: 2,
      isolation: "process",
      requestTimeout: 1.5,
      home,
      permissions: [],
    }, [
      ["/p", app],
    ]);
    try {
      const children = descendants();
      assert.equal(
        children.filter((pid) =>
          Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes(
            "process_main.ts",
          )
        ).length,
        2,
        `two worker processes, got ${children}`,
      );
      assert.equal(group.metrics().mode, "processes");
      assert.ok((group.metrics().rss ?? 0) > 50 * 2 ** 20, "rss is reported");
      // No write permission was given: the app cannot write in its home.
      assert.match((await get(`${base}/p/write`))[1], /^denied/);

      const started = performance.now();
      const stuck = get(`${base}/p/swallow`);
      await sleep(300);
      for (let i = 0; i < 3; i++) {
        assert.equal((await get(`${base}/p/id`))[0], 200, "the other serves");
      }
      const [status] = await stuck;
      const elapsed = performance.now() - started;
      assert.equal(status, 504);
      assert.ok(elapsed < 2500, `answered after ${elapsed} ms`);
      await waitFor(
        () => group.metrics().workers.idle === 2,
        20000,
        "a replacement worker",
      );
      const used = await cpuOver(1000);
      assert.ok(used < 300, `${used} ms of CPU in 1 s after the timeout`);
      assert.equal(group.metrics().stuck, 0);
      assert.equal(group.metrics().timeouts, 1);
    } finally {
      logs.stop();
      await close();
      await Deno.remove(home, { recursive: true });
    }
    await waitFor(
      () => descendants().length === 0,
      3000,
      "the worker processes to be gone",
    );
  },
});

Deno.test({
  name:
    "queue: first come first served; full or too slow gives 503 with Retry-After, quickly, and stays bounded under overload",
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
      const first = get(`${server.base}/fair/order?n=0&s=0.6`);
      const rest: Promise<[number, string, Headers]>[] = [];
      for (let n = 1; n <= 5; n++) {
        await sleep(40);
        rest.push(get(`${server.base}/fair/order?n=${n}`));
      }
      await first;
      const answers = await Promise.all(rest);
      assert.equal(answers[4][1], "0,1,2,3,4,5", "served in arrival order");

      const busy = get(`${server.base}/q/sleep?s=2`);
      await sleep(200);
      let started = performance.now();
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
      assert.ok(results.every((r) => Number(r.retry) >= 1), "Retry-After");
      const quick = results.filter((r) => r.ms < 300).length;
      assert.equal(
        quick,
        2,
        `two rejected at once (queue full): ${JSON.stringify(results)}`,
      );
      assert.ok(
        results.every((r) => r.ms < 1200),
        "the others after queueTimeout",
      );
      assert.equal((await busy)[0], 200);
      let metrics = group.metrics();
      assert.equal(metrics.rejected, 2);
      assert.equal(metrics.queueTimeouts, 2);
      assert.equal(metrics.queueLength, 0);

      // Overload: 400 requests at once on one busy worker. The queue never
      // holds more than queueLimit, the rest are refused at once, and the
      // server's memory does not grow with the crowd.
      const slow = get(`${server.base}/q/sleep?s=1.5`);
      await sleep(200);
      const rssBefore = Deno.memoryUsage().rss;
      let longest = 0;
      const sampler = setInterval(() => {
        longest = Math.max(longest, group.metrics().queueLength);
      }, 5);
      started = performance.now();
      const crowd = await Promise.all(
        Array.from(
          { length: 400 },
          () =>
            get(`${server.base}/q/id`).then(([status]) => ({
              status,
              ms: performance.now() - started,
            })),
        ),
      );
      clearInterval(sampler);
      const grown = (Deno.memoryUsage().rss - rssBefore) / 2 ** 20;
      assert.ok(crowd.every((r) => r.status === 503));
      assert.ok(longest <= 2, `queue reached ${longest}`);
      assert.ok(
        crowd.filter((r) => r.ms < 1000).length >= 398,
        "refused at once",
      );
      assert.ok(grown < 64, `RSS grew by ${grown.toFixed(1)} MiB`);
      assert.equal((await slow)[0], 200);
      metrics = group.metrics();
      assert.equal(metrics.rejected + metrics.queueTimeouts, 404);
    } finally {
      await server.close();
      await group.shutdown();
      await fair.shutdown();
    }
  },
});

Deno.test({
  name:
    "maximumRequests replaces the worker under concurrent load without failing a request",
  ...options,
  fn: async () => {
    const { base, group, close } = await serveGroup("groups-maxreq", {
      processes: 1,
      maximumRequests: 4,
    }, [
      ["/m", app],
    ]);
    try {
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => get(`${base}/m/id`)),
      );
      assert.deepEqual(answers.map((r) => r[0]), Array(12).fill(200));
      const counts = new Map<string, number>();
      for (const [, id] of answers) counts.set(id, (counts.get(id) ?? 0) + 1);
      assert.deepEqual(
        [...counts.values()],
        [4, 4, 4],
        "three interpreters, four requests each",
      );
      await waitFor(() => group.metrics().restarts === 3, 2000, "3 restarts");
      const metrics = group.metrics();
      assert.equal(metrics.requests, 12);
      assert.equal(metrics.crashes, 0);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "restartInterval recycles a worker that has served that long; no request fails",
  ...options,
  fn: async () => {
    const { base, group, close } = await serveGroup("groups-lifetime", {
      processes: 1,
      restartInterval: 1,
    }, [
      ["/r", app],
    ]);
    try {
      const [, first] = await get(`${base}/r/id`);
      // Requests keep coming while the interval passes: none fails.
      const deadline = Date.now() + 8000;
      let latest = first;
      while (latest === first && Date.now() < deadline) {
        const [status, id] = await get(`${base}/r/id`);
        assert.equal(status, 200);
        latest = id;
        await sleep(100);
      }
      assert.notEqual(latest, first, "a fresh interpreter");
      const metrics = group.metrics();
      assert.ok(metrics.restarts >= 1, `restarts: ${metrics.restarts}`);
      assert.equal(metrics.crashes, 0);
    } finally {
      await close();
    }
  },
});

for (const isolation of ["thread", "process"] as const) {
  Deno.test({
    name:
      `cpuTimeLimit recycles a worker that has used that much CPU (${isolation}); no request fails`,
    ...options,
    fn: async () => {
      const { base, group, close } = await serveGroup(
        `groups-cpu-${isolation}`,
        { processes: 1, isolation, cpuTimeLimit: 2 },
        [["/c", app]],
      );
      try {
        const [, first] = await get(`${base}/c/id`);
        const deadline = Date.now() + 30000;
        let latest = first;
        let burnt = 0;
        while (latest === first && Date.now() < deadline) {
          const [status] = await get(`${base}/c/cpu?n=300000`);
          assert.equal(status, 200);
          burnt++;
          latest = (await get(`${base}/c/id`))[1];
        }
        assert.notEqual(latest, first, `a fresh interpreter (${burnt} runs)`);
        const metrics = group.metrics();
        assert.ok(metrics.restarts >= 1, `restarts: ${metrics.restarts}`);
        assert.equal(metrics.crashes, 0);
      } finally {
        await close();
      }
    },
  });
}

Deno.test({
  name:
    "inactivityTimeout releases idle workers; the next request brings one back",
  ...options,
  fn: async () => {
    const { base, group, close } = await serveGroup("groups-idle", {
      processes: 2,
      inactivityTimeout: 1,
    }, [
      ["/i", app],
    ]);
    try {
      // On demand: one worker to begin with, not two.
      assert.equal(group.metrics().starts, 1);
      const [, first] = await get(`${base}/i/id`);
      await waitFor(
        () => live(group.metrics()) === 0,
        5000,
        "the idle worker to be released",
      );
      assert.deepEqual(group.metrics().workers, {
        idle: 0,
        busy: 0,
        starting: 0,
      });
      const [status, second] = await get(`${base}/i/id`);
      assert.equal(status, 200);
      assert.notEqual(first, second, "a fresh interpreter");
      assert.equal(group.metrics().starts, 2);
      assert.equal(group.metrics().crashes, 0);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "crashes: a script that never loads answers 500 without restarts; a dead worker or a fatal Pyodide error gives 502 and a replacement",
  ...options,
  fn: async () => {
    const logs = collectLogs();
    const together = { applicationGroup: "crashy" };
    const { base, group, close } = await serveGroup("groups-crash", {
      processes: 1,
      requestTimeout: 20,
    }, [
      ["/broken", appPath("groups_broken.wsgi"), together],
      ["/crash", appPath("groups_crash.wsgi"), together],
      ["/app", app, together],
    ]);
    try {
      for (let i = 0; i < 5; i++) {
        const [status, body] = await get(`${base}/broken/`);
        assert.equal(status, 500);
        assert.ok(!body.includes("broken on purpose"), "no traceback");
      }
      assert.ok(
        logs.entries.some((e) =>
          e.level === "error" && e.message.includes("broken on purpose") &&
          e.message.includes("groups_broken.wsgi")
        ),
        "the log names the script and the error",
      );
      assert.equal(group.metrics().starts, 1, "a bad script restarts nothing");
      assert.equal((await get(`${base}/crash/`))[1], "alive");

      // An uncaught error in the worker's JavaScript kills the Web Worker.
      let started = performance.now();
      let [status] = await get(`${base}/crash/crash`, {
        method: "POST",
        body: new Uint8Array(300 * 1024),
      });
      assert.equal(status, 502);
      assert.ok(performance.now() - started < 2500, "no hang");
      assert.equal((await get(`${base}/crash/`))[1], "alive", "replaced");
      assert.equal(group.metrics().crashes, 1);

      // os.abort(): Pyodide's fatal error; the interpreter is not reused.
      const [, before] = await get(`${base}/app/id`);
      started = performance.now();
      [status] = await get(`${base}/app/abort`);
      assert.equal(status, 502);
      assert.ok(performance.now() - started < 2500, "no hang");
      const [after, id] = await get(`${base}/app/id`);
      assert.equal(after, 200);
      assert.notEqual(id, before, "a new interpreter");
      const metrics = group.metrics();
      assert.equal(metrics.crashes, 2);
      assert.equal(metrics.starts, 3);
      assert.ok(
        logs.entries.some((e) => e.message.includes("worker crash on purpose")),
      );
      assert.ok(logs.entries.some((e) => e.message.includes("fatal error")));
    } finally {
      logs.stop();
      await close();
    }
  },
});

Deno.test({
  name:
    "startupTimeout: a worker that cannot start is replaced with back-off and requests get 503 at once; a script that keeps failing to load is retried after startupTimeout, not in a storm",
  ...options,
  fn: async () => {
    const logs = collectLogs();
    // 0.5 s is less than Pyodide needs to boot: no worker ever starts.
    // Processes, because a Web Worker terminated while it loads Pyodide
    // goes on loading for seconds (Deno 2.9) and would slow the other group.
    const never = defineGroup("groups-never", {
      processes: 1,
      isolation: "process",
      startupTimeout: 0.5,
      queueTimeout: 1,
      // From a snapshot a worker can start within 0.5 s on a quiet machine.
      snapshot: false,
    });
    // Enough to start (Pyodide needs 3-5 s here, while the other group
    // keeps starting workers), not for the script to load: it never does.
    const broken = defineGroup("groups-reload", {
      processes: 1,
      startupTimeout: 7,
    });
    const router = createRouter();
    mountWsgi(router, "/never", app, { group: never });
    mountWsgi(router, "/broken", appPath("groups_broken.wsgi"), {
      group: broken,
    });
    const server = serve(router.fetch);
    try {
      await sleep(100);
      const statuses = new Set<number>();
      const brokenAnswers: Promise<unknown>[] = [];
      const deadline = performance.now() + 9000;
      while (performance.now() < deadline) {
        const started = performance.now();
        const [status, , headers] = await get(`${server.base}/never/id`);
        assert.equal(status, 503);
        assert.ok(Number(headers.get("retry-after")) >= 1);
        assert.ok(performance.now() - started < 1500, "never a hang");
        // Not awaited here: while the broken group's worker (re)starts, its
        // requests wait seconds, which would stretch this 9 s window.
        brokenAnswers.push(
          get(`${server.base}/broken/`).then(([status]) =>
            statuses.add(status)
          ),
        );
        await sleep(200);
      }
      const neverMetrics = never.metrics();
      const starts = neverMetrics.starts;
      await Promise.all(brokenAnswers);
      assert.deepEqual([...statuses], [500]);
      // Without back-off, a start every 0.5 s: 18 in 9 s. With it, the
      // waits go 0, 0.5, 1, 2, 4 s: 5 or 6 starts.
      assert.ok(starts >= 4 && starts <= 6, `${starts} starts`);
      assert.equal(neverMetrics.crashes, starts - live(neverMetrics));
      assert.ok(
        logs.entries.some((e) =>
          e.message.includes("did not start within startupTimeout")
        ),
      );
      assert.ok(logs.entries.some((e) => e.message.includes("in 2 s")));
      // The broken script: failed to load at ~4 s, still failing at 7 s:
      // replaced then, and the replacement fails too.
      const reloads = broken.metrics();
      assert.ok(
        reloads.starts >= 2 && reloads.starts <= 3,
        `${reloads.starts} starts`,
      );
      assert.ok(
        logs.entries.some((e) =>
          e.message.includes("did not load within startupTimeout")
        ),
        logs.text(),
      );
    } finally {
      logs.stop();
      await server.close();
      await never.shutdown();
      await broken.shutdown();
    }
  },
});

Deno.test({
  name:
    "graceful restart: in-flight requests finish on the old worker, new ones get the new; shutdown lets in-flight requests finish, then stops the workers",
  ...options,
  fn: async () => {
    const { base, group, close } = await serveGroup("groups-restart", {
      processes: 1,
      gracefulTimeout: 5,
    }, [
      ["/r", app],
    ]);
    try {
      const [, before] = await get(`${base}/r/id`);
      const slow = get(`${base}/r/sleep?s=1.5`);
      await sleep(200);
      const restarted = group.restart();
      const during = get(`${base}/r/id`);
      assert.deepEqual((await slow).slice(0, 2), [200, "slept"]);
      await restarted;
      const [status, after] = await during;
      assert.equal(status, 200);
      assert.notEqual(after, before);
      assert.equal(group.metrics().restarts, 1);
      assert.equal(group.metrics().starts, 2);

      const last = get(`${base}/r/sleep?s=1`);
      await sleep(200);
      const stopped = performance.now();
      await group.shutdown();
      assert.ok(performance.now() - stopped > 500, "waited for the request");
      assert.deepEqual((await last).slice(0, 2), [200, "slept"]);
      const [refused, , headers] = await get(`${base}/r/id`);
      assert.equal(refused, 503);
      assert.ok(headers.has("retry-after"));
      assert.equal(live(group.metrics()), 0);
    } finally {
      await close();
    }
  },
});

/** Runs a server script in a child Deno process; resolves with its port. */
async function spawnServer(source: string): Promise<{
  child: Deno.ChildProcess;
  base: string;
  stderr: () => string;
  exited: (ms: number) => Promise<Deno.CommandStatus | "still running">;
}> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, source);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-worker-options", // sandboxed Web Workers
      "--config",
      new URL("deno.json", repo).pathname,
      file,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let errors = "";
  (async () => {
    for await (
      const text of child.stderr.pipeThrough(new TextDecoderStream())
    ) errors += text;
  })();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`the server did not start:\n${errors}`);
    out += value;
  }
  lines.releaseLock();
  child.status.finally(() => Deno.remove(file));
  return {
    child,
    base: `http://127.0.0.1:${out.trim()}`,
    stderr: () => errors,
    exited: (ms) =>
      Promise.race([
        child.status,
        sleep(ms).then(() => "still running" as const),
      ]),
  };
}

Deno.test({
  name:
    "SIGTERM: in-flight requests finish, then the server exits, even past a Web Worker stuck where Python cannot be interrupted (reported in metrics and the log)",
  ...options,
  fn: async () => {
    const { child, base, stderr, exited } = await spawnServer(`
      import { Hono } from "hono";
      import { defineGroup, mountWsgi } from "${repo}mod.ts";
      // Unsandboxed: a sandboxed Web Worker cannot read its own thread id
      // in /proc (Deno asks --allow-all for it), so the pool would not see
      // it outlive terminate().
      const group = defineGroup("sub", {
        processes: 2,
        isolation: "thread",
        permissions: "inherit",
        requestTimeout: 1,
        gracefulTimeout: 5,
      });
      const app = new Hono();
      app.get("/metrics", (c) => c.json(group.metrics()));
      mountWsgi(app, "/app", ${JSON.stringify(app)}, { group });
      await group.ready();
      Deno.serve({
        hostname: "127.0.0.1",
        port: 0,
        onListen: ({ port }) => console.log(port),
      }, app.fetch);
    `);
    try {
      assert.equal((await get(`${base}/app/swallow`))[0], 504);
      // Terminated, the thread goes on: the pool sees it in /proc.
      await waitFor(
        async () => (await (await fetch(`${base}/metrics`)).json()).stuck === 1,
        6000,
        "the stuck thread to be reported",
      );
      const slow = get(`${base}/app/sleep?s=0.8`);
      await sleep(200);
      child.kill("SIGTERM");
      assert.deepEqual((await slow).slice(0, 2), [200, "slept"]);
      const status = await exited(10000);
      assert.notEqual(status, "still running", stderr());
      assert.equal((status as Deno.CommandStatus).code, 0);
      assert.match(stderr(), /terminated worker thread keeps running/);
      assert.match(stderr(), /SIGTERM/);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited already
      }
    }
  },
});

Deno.test({
  name:
    "shutdown(): the server's process ends by itself afterwards, with no worker thread or process left behind",
  ...options,
  fn: async () => {
    const { child, base, stderr, exited } = await spawnServer(`
      import { createRouter, defineGroup, mountWsgi, shutdown } from "${repo}mod.ts";
      const threads = defineGroup("threads", {
        processes: 1,
        isolation: "thread",
      });
      const processes = defineGroup("processes", {
        processes: 2,
        isolation: "process",
      });
      const router = createRouter();
      mountWsgi(router, "/t", ${JSON.stringify(app)}, { group: threads });
      mountWsgi(router, "/p", ${JSON.stringify(app)}, { group: processes });
      await Promise.all([threads.ready(), processes.ready()]);
      const server = Deno.serve({
        hostname: "127.0.0.1",
        port: 0,
        onListen: ({ port }) => console.log(port),
      }, router.fetch);
      router.get("/quit", () => {
        setTimeout(async () => {
          await server.shutdown();
          await shutdown();
        }, 0);
        return new Response("bye");
      });
    `);
    try {
      assert.equal((await get(`${base}/t/id`))[0], 200);
      assert.equal((await get(`${base}/p/id`))[0], 200);
      const workers = descendants(child.pid);
      assert.equal(workers.length, 2, "two worker processes");
      assert.equal((await get(`${base}/quit`))[1], "bye");
      const status = await exited(10000);
      assert.notEqual(status, "still running", stderr());
      assert.equal((status as Deno.CommandStatus).code, 0);
      await waitFor(
        () =>
          workers.every((pid) => {
            try {
              const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
              return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
            } catch {
              return true;
            }
          }),
        3000,
        "the worker processes to be gone",
      );
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited already
      }
    }
  },
});
