/**
 * `threads`: requests that wait interleave inside one worker, each a
 * thread of its own for the app, in Web Worker, process and embedded mode.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  createRouter,
  defineGroup,
  type GroupOptions,
  mountWsgi,
  type ProcessGroup,
} from "../mod.ts";
import { appPath, serve, type TestServer } from "./helpers.ts";
import { ensurePythonPackages } from "./python_packages.ts";
import { type DatabaseServer, startPostgres } from "./servers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

const MODES: [string, GroupOptions][] = [
  ["worker", {}],
  ["process", { isolation: "process" }],
  ["embedded", { processes: 0 }],
];

interface Setup {
  group: ProcessGroup;
  server: TestServer;
  // deno-lint-ignore no-explicit-any
  get(path: string): Promise<{ status: number; body: any }>;
}

let postgres: DatabaseServer | undefined;
let sitePackages: string | undefined;

async function setUp(
  name: string,
  extra: GroupOptions,
): Promise<Setup> {
  sitePackages ??= await ensurePythonPackages();
  postgres ??= await startPostgres();
  const group = defineGroup(name, {
    threads: 10,
    requestTimeout: 3,
    // Imported at start, so that no request spends its time importing.
    preload: ["flask", "sqlalchemy", "pg8000"],
    pythonPath: [sitePackages],
    env: { DATABASE_URL: postgres.url },
    ...extra,
  });
  const router = createRouter();
  mountWsgi(router, "/t", appPath("threads_app.wsgi"), { group });
  mountWsgi(router, "/stream", appPath("threads_app.wsgi"), {
    group,
    callable: "streaming",
    applicationGroup: "threads",
  });
  await group.ready();
  const server = serve(router.fetch);
  const get = async (path: string) => {
    const response = await fetch(`${server.base}${path}`);
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: an error page or a stream
    }
    return { status: response.status, body };
  };
  return { group, server, get };
}

async function tearDown(setup: Setup): Promise<void> {
  await setup.server.close();
  await setup.group.shutdown();
}

async function timed<T>(work: Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await work;
  return [result, (performance.now() - start) / 1000];
}

for (const [mode, extra] of MODES) {
  Deno.test({
    name: `threads (${mode})`,
    ...options,
    fn: async (t) => {
      const setup = await setUp(`threads-${mode}`, extra);
      try {
        await t.step(`waiting requests interleave, each a thread`, async () => {
          // Ten 0.3 s sleeps on one worker: together, not one after another.
          const [replies, seconds] = await timed(Promise.all(
            Array.from(
              { length: 10 },
              (_, i) => setup.get(`/t/sleep?name=r${i}`),
            ),
          ));
          assert.ok(seconds < 1.2, `ten 0.3 s sleeps took ${seconds} s`);
          replies.forEach((reply, i) => {
            assert.equal(reply.status, 200);
            assert.equal(
              reply.body.name,
              `r${i}`,
              "threading.local per request",
            );
            assert.equal(reply.body.multithread, true);
          });
          const idents = new Set(replies.map((reply) => reply.body.ident));
          assert.equal(idents.size, 10, "threading.get_ident() per request");

          // Two interleaved Flask requests never see each other's request or g.
          const [a, b] = await Promise.all([
            setup.get("/t/flask?name=alpha"),
            setup.get("/t/flask?name=beta"),
          ]);
          assert.deepEqual(a.body.seen, ["alpha", "alpha", "alpha", "alpha"]);
          assert.deepEqual(b.body.seen, ["beta", "beta", "beta", "beta"]);

          // Streaming bodies keep their thread across chunks.
          const [one, two] = await Promise.all([
            setup.get("/stream/?one"),
            setup.get("/stream/?two"),
          ]);
          for (const [reply, name] of [[one, "one"], [two, "two"]] as const) {
            const lines = String(reply.body).trim().split("\n");
            assert.equal(lines.length, 3);
            const threadNames = new Set(
              lines.map((line) => line.split(":")[2]),
            );
            assert.equal(threadNames.size, 1, String(reply.body));
            for (const line of lines) assert.ok(line.startsWith(`${name}:`));
          }
        });
        await t.step(
          `Lock, Semaphore, Condition and queue.Queue wait by suspending`,
          async () => {
            await setup.get("/t/reset");
            const [locked, lockSeconds] = await timed(Promise.all(
              Array.from({ length: 5 }, () => setup.get("/t/lock")),
            ));
            assert.ok(locked.every((reply) => reply.body.most === 1));
            assert.ok(
              lockSeconds >= 0.45,
              `5 x 0.1 s under a lock: ${lockSeconds}`,
            );

            await setup.get("/t/reset");
            const semaphored = await Promise.all(
              Array.from({ length: 6 }, () => setup.get("/t/semaphore")),
            );
            assert.equal(
              Math.max(...semaphored.map((reply) => reply.body.most)),
              2,
            );

            // A get() waits for another request's put().
            const waiting = setup.get("/t/queue/get?timeout=5");
            await new Promise((resolve) => setTimeout(resolve, 200));
            await setup.get("/t/queue/put?item=hello");
            assert.equal((await waiting).body.item, "hello");
            const [empty, emptySeconds] = await timed(
              setup.get("/t/queue/get?timeout=0.3"),
            );
            assert.equal(empty.body.item, null);
            assert.ok(emptySeconds >= 0.29 && emptySeconds < 2);

            const waiter = setup.get("/t/condition/wait?timeout=5");
            await new Promise((resolve) => setTimeout(resolve, 200));
            await setup.get("/t/condition/notify");
            assert.equal((await waiter).body.notified, true);
            const lonely = await setup.get("/t/condition/wait?timeout=0.2");
            assert.equal(lonely.body.notified, false);
          },
        );
        await t.step(
          `ten pg_sleep(0.3) through SQLAlchemy on one worker finish together; a pool smaller than threads works`,
          async () => {
            await setup.get("/t/pg_sleep"); // connect and warm up
            const [replies, seconds] = await timed(Promise.all(
              Array.from({ length: 10 }, () => setup.get("/t/pg_sleep")),
            ));
            assert.ok(replies.every((reply) => reply.status === 200));
            assert.ok(seconds < 1, `ten pg_sleep(0.3) took ${seconds} s`);
            console.log(`${mode}: ten pg_sleep(0.3), threads 10: ${seconds} s`);

            // QueuePool(pool_size=2, max_overflow=0): requests wait their turn.
            const [small, smallSeconds] = await timed(Promise.all(
              Array.from(
                { length: 6 },
                () => setup.get("/t/pg_sleep?pool=small"),
              ),
            ));
            assert.ok(small.every((reply) => reply.status === 200));
            assert.equal(new Set(small.map((reply) => reply.body.pid)).size, 2);
            assert.ok(
              smallSeconds >= 0.85,
              `3 rounds of 0.3 s: ${smallSeconds}`,
            );
          },
        );
        await t.step(
          `requestTimeout ends one waiting request; the others and the worker go on`,
          async () => {
            const [late, quick] = await Promise.all([
              setup.get("/t/sleep?name=late&seconds=30"),
              setup.get("/t/sleep?name=quick&seconds=0.5"),
            ]);
            assert.equal(late.status, 504);
            assert.equal(quick.status, 200);
            assert.equal(quick.body.name, "quick");
            const after = await setup.get("/t/sleep?name=after&seconds=0");
            assert.equal(after.status, 200);
            const metrics = setup.group.metrics();
            assert.equal(metrics.timeouts, 1);
            assert.equal(metrics.restarts, 0, "the worker was kept");
          },
        );
      } finally {
        await tearDown(setup);
      }
    },
  });
}

Deno.test({
  name: "threads: threads: 1 runs waiting requests one after another",
  ...options,
  fn: async () => {
    const setup = await setUp("threads-one", { threads: 1, preload: [] });
    try {
      const [replies, seconds] = await timed(Promise.all(
        Array.from({ length: 4 }, (_, i) => setup.get(`/t/sleep?name=s${i}`)),
      ));
      assert.ok(replies.every((reply) => reply.body.multithread === false));
      assert.ok(seconds >= 1.15, `four 0.3 s sleeps took ${seconds} s`);
    } finally {
      await tearDown(setup);
    }
  },
});

Deno.test({
  name: "threads: maximumRequests counts each request, not each worker",
  ...options,
  fn: async () => {
    const setup = await setUp("threads-recycle", {
      maximumRequests: 3,
      queueTimeout: 120,
      preload: [],
    });
    try {
      const replies = await Promise.all(
        Array.from(
          { length: 6 },
          (_, i) => setup.get(`/t/sleep?name=m${i}&seconds=0.1`),
        ),
      );
      assert.deepEqual(
        replies.map((reply) => reply.status),
        Array(6).fill(200),
      );
      const { restarts } = setup.group.metrics();
      assert.ok(restarts >= 1, `restarts: ${restarts}`);
    } finally {
      await tearDown(setup);
    }
  },
});

Deno.test({
  name: "threads: shut down the PostgreSQL server",
  ...options,
  fn: async () => {
    await postgres?.stop();
  },
});
