/**
 * Real databases from Python through the gateway: pg8000, PyMySQL and
 * redis-py, and SQLAlchemy 2's ORM on PostgreSQL (pg8000) and MariaDB
 * (PyMySQL), against private PostgreSQL, MariaDB and Redis servers on
 * loopback (tests/servers.ts), each started once for this file. Every
 * check goes through tests/apps/net_databases.wsgi over real HTTP, in a Web
 * Worker, a child process and embedded; the app gets the servers' URLs
 * through the mount's `environ` (SetEnv).
 */

import assert from "node:assert/strict";
import { appPath, collectLogs, waitFor } from "./helpers.ts";
import {
  type AppServer,
  type Mode,
  modes,
  okJson,
  requestJson,
  serveApp,
  UNICODE_TEXT,
} from "./net_modes.ts";
import { ensurePythonPackages } from "./python_packages.ts";
import {
  type DatabaseServer,
  type RedisServer,
  startMariaDB,
  startPostgres,
  startRedis,
} from "./servers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("net_databases.wsgi");

interface Servers {
  postgres: DatabaseServer;
  mariadb: DatabaseServer;
  redis: RedisServer;
}

function environFor(servers: Servers): Record<string, string> {
  return {
    NET_PG_URL: servers.postgres.url,
    NET_MYSQL_URL: servers.mariadb.url,
    NET_REDIS_URL: servers.redis.url,
  };
}

/** The checks every mode runs, one step each. */
async function checkEveryClient(
  t: Deno.TestContext,
  base: string,
  servers: Servers,
): Promise<void> {
  await t.step("pg8000.native stores and reads unicode", async () => {
    const result = await okJson(`${base}/pg8000/roundtrip`, UNICODE_TEXT);
    assert.equal(result.text, UNICODE_TEXT);
    assert.equal(result.length, [...UNICODE_TEXT].length);
    assert.equal(result.server_encoding, "UTF8");
    // What PostgreSQL itself holds, read with psql from the test side.
    const stored = await servers.postgres.query(
      `SELECT text FROM pg8000_notes WHERE id = ${Number(result.id)}`,
    );
    assert.equal(stored.trim(), UNICODE_TEXT);
  });

  await t.step("a wrong password: the driver's error, no crash", async () => {
    const logs = collectLogs();
    let answer;
    try {
      answer = await requestJson(
        `${base}/pg8000/roundtrip?password=wrong`,
        "x",
      );
    } finally {
      logs.stop();
    }
    assert.equal(answer.status, 500);
    assert.equal(answer.body.error, "DatabaseError");
    assert.match(answer.body.message, /password authentication failed/);
  });

  await t.step("PyMySQL stores and reads unicode", async () => {
    const result = await okJson(`${base}/pymysql/roundtrip`, UNICODE_TEXT);
    assert.equal(result.text, UNICODE_TEXT);
    assert.equal(result.length, [...UNICODE_TEXT].length);
    const stored = await servers.mariadb.query(
      `SELECT text FROM pymysql_notes WHERE id = ${Number(result.id)}`,
    );
    assert.equal(stored.trim(), UNICODE_TEXT);
  });

  for (
    const [backend, server] of [["pg", "postgres"], ["my", "mariadb"]] as const
  ) {
    const label = backend === "pg" ? "postgresql+pg8000" : "mysql+pymysql";
    await t.step(`SQLAlchemy ORM on ${label}`, async () => {
      await okJson(`${base}/sa/${backend}/setup`);
      const text = `${UNICODE_TEXT} ${crypto.randomUUID()}`;
      const created = await okJson(`${base}/sa/${backend}/notes`, text);
      const { notes } = await okJson(`${base}/sa/${backend}/notes`);
      const found = notes.find((n: { id: number }) => n.id === created.id);
      assert.equal(found?.text, text, "the ORM did not read back its note");
      const stored = await servers[server].query(
        `SELECT text FROM orm_notes WHERE id = ${Number(created.id)}`,
      );
      assert.equal(stored.trim(), text);

      // A transaction that fails is rolled back: its first row is gone too.
      const failedText = `rolled back ${crypto.randomUUID()}`;
      const failed = await okJson(`${base}/sa/${backend}/fail`, failedText);
      assert.match(failed.error, /IntegrityError/);
      assert.equal(failed.after, failed.before);
      assert.equal(failed.kept, 0);
      const leftOver = await servers[server].query(
        `SELECT count(*) FROM orm_notes WHERE text = '${failedText}'`,
      );
      assert.equal(leftOver.trim(), "0");

      // The pool keeps one connection for this worker across requests.
      const pids = new Set<number>();
      for (let i = 0; i < 3; i++) {
        pids.add((await okJson(`${base}/sa/${backend}/backend`)).pid);
      }
      assert.equal(pids.size, 1, `backend ids ${[...pids]}: no pooling`);
    });
  }

  await t.step("redis-py: get/set, a pipeline, pub/sub", async () => {
    const result = await okJson(`${base}/redis/roundtrip`, UNICODE_TEXT);
    assert.equal(result.text, UNICODE_TEXT);
    assert.deepEqual(result.pipeline, [1, 2, 42, "42", true]);
    assert.equal(result.subscribed, "subscribe");
    assert.equal(result.receivers, 1, "publish counted no subscriber");
    assert.equal(result.message, UNICODE_TEXT);
  });
}

async function inMode(
  t: Deno.TestContext,
  mode: Mode,
  servers: Servers,
  sitePackages: string,
): Promise<void> {
  const groupName = `net-db-${mode.name.replace(/\W+/g, "-").toLowerCase()}`;
  let server: AppServer | undefined;
  try {
    server = await serveApp(
      groupName,
      mode,
      app,
      environFor(servers),
      [sitePackages],
    );
    await checkEveryClient(t, server.base, servers);
  } finally {
    await server?.close();
  }
}

/** The PostgreSQL backend pid and worker identity of one request. */
async function backendOf(
  base: string,
  sleep = 0,
): Promise<{ pid: number; identity: string }> {
  return await okJson(`${base}/sa/pg/backend?sleep=${sleep}`);
}

async function sessionExists(postgres: DatabaseServer, pid: number) {
  const count = await postgres.query(
    `SELECT count(*) FROM pg_stat_activity WHERE pid = ${Number(pid)}`,
  );
  return count.trim() !== "0";
}

Deno.test({
  name: "databases from Python through the gateway",
  ...options,
  fn: async (t) => {
    const sitePackages = await ensurePythonPackages();
    const started = await Promise.allSettled([
      startPostgres(),
      startMariaDB(),
      startRedis(),
    ]);
    const failures = started.filter((s) => s.status === "rejected");
    const stopAll = () =>
      Promise.all(
        started.map((s) => s.status === "fulfilled" ? s.value.stop() : null),
      );
    if (failures.length) {
      await stopAll();
      throw new AggregateError(
        failures.map((f) => (f as PromiseRejectedResult).reason),
        "a database server did not start",
      );
    }
    const [postgres, mariadb, redis] = started.map((s) =>
      (s as PromiseFulfilledResult<DatabaseServer & RedisServer>).value
    );
    const servers: Servers = { postgres, mariadb, redis };
    try {
      for (const mode of modes()) {
        await t.step(mode.name, (t) => inMode(t, mode, servers, sitePackages));
      }

      await t.step(
        "two workers: one pooled connection each, kept across requests",
        async () => {
          const server = await serveApp(
            "net-db-two-workers",
            modes()[0],
            app,
            environFor(servers),
            [sitePackages],
            { processes: 2 },
          );
          try {
            await okJson(`${server.base}/sa/pg/setup`);
            const pidsByWorker = new Map<string, Set<number>>();
            for (let round = 0; round < 3; round++) {
              const answers = await Promise.all(
                [0, 1, 2, 3].map(() => backendOf(server.base, 0.2)),
              );
              for (const { identity, pid } of answers) {
                if (!pidsByWorker.has(identity)) {
                  pidsByWorker.set(identity, new Set());
                }
                pidsByWorker.get(identity)!.add(pid);
              }
            }
            assert.equal(pidsByWorker.size, 2, "both workers should answer");
            const pids = [...pidsByWorker.values()].map((set) => [...set]);
            for (const list of pids) {
              assert.equal(list.length, 1, `one worker used backends ${list}`);
            }
            assert.notEqual(pids[0][0], pids[1][0], "workers shared a backend");
          } finally {
            await server.close();
          }
        },
      );

      await t.step(
        "maximumRequests: a recycled worker's connections are closed",
        async () => {
          const server = await serveApp(
            "net-db-recycled",
            modes()[0],
            app,
            environFor(servers),
            [sitePackages],
            { maximumRequests: 3 },
          );
          try {
            // Requests 1 to 3 run in the first worker, 4 in its replacement.
            const held = () => okJson(`${server.base}/pg8000/held`);
            const first = await held();
            const second = await held();
            assert.deepEqual(second, first, "the connection was not kept");
            assert.ok(
              await sessionExists(postgres, first.pid),
              `session ${first.pid} is not in pg_stat_activity`,
            );
            assert.deepEqual(await held(), first);
            const replacement = await held();
            assert.notEqual(
              replacement.identity,
              first.identity,
              "not recycled",
            );
            assert.notEqual(replacement.pid, first.pid);
            await waitFor(
              async () => !(await sessionExists(postgres, first.pid)),
              10_000,
              `PostgreSQL session ${first.pid} of the recycled worker to end`,
            );
            assert.ok(await sessionExists(postgres, replacement.pid));
          } finally {
            await server.close();
          }
        },
      );
    } finally {
      await stopAll();
    }
  },
});
