/**
 * With `threads` above 1, the group's limits count requests, not workers:
 * queueTimeout and queueLimit, a crash of a worker that runs two requests,
 * Django's connection per request, and requestTimeout in recv(): the
 * abandoned request's socket is closed although its worker is kept. In Web
 * Worker, process and embedded mode.
 */

import assert from "node:assert/strict";
import type { GroupOptions } from "../mod.ts";
import { appPath, collectLogs, serveGroup, waitFor } from "./helpers.ts";
import { ensurePythonPackages } from "./python_packages.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

const MODES: [string, GroupOptions][] = [
  ["worker", {}],
  ["process", { isolation: "process" }],
  ["embedded", { processes: 0 }],
];

interface Answer {
  status: number;
  text: string;
  /** Milliseconds from the request to its whole answer. */
  ms: number;
  /** performance.now() when the answer was complete. */
  at: number;
}

async function get(url: string): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  const at = performance.now();
  return { status: response.status, text, ms: at - started, at };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A TCP server that accepts and never answers; `closedAt` is when each
 * connection was closed by the other side (performance.now()).
 */
function silentServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: { closedAt?: number }[] = [];
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      const record: { closedAt?: number } = {};
      connections.push(record);
      conns.push(conn);
      (async () => {
        const buffer = new Uint8Array(1024);
        try {
          while ((await conn.read(buffer)) !== null) { /* discard */ }
        } catch {
          // reset by the peer: closed too
        }
        record.closedAt = performance.now();
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections,
    stop() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
    },
  };
}

/** requestTimeout ends a recv(); then the server must see the close. */
async function closesAbandonedSocket(base: string): Promise<void> {
  const silent = silentServer();
  try {
    const answer = await get(`${base}/t/hold?port=${silent.port}`);
    assert.equal(answer.status, 504, answer.text);
    assert.equal(silent.connections.length, 1);
    await waitFor(
      () => silent.connections[0].closedAt !== undefined,
      5000,
      "the abandoned request's socket to be closed",
    );
    const after = silent.connections[0].closedAt! - answer.at;
    assert.ok(after < 5000, `closed ${after} ms after the 504`);
  } finally {
    silent.stop();
  }
}

for (const [mode, extra] of MODES) {
  Deno.test({
    name: `threads limits (${mode})`,
    ...options,
    fn: async (t) => {
      const sitePackages = await ensurePythonPackages();
      const data = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "wsgi-" }));
      const logs = collectLogs();
      const server = await serveGroup(`threads-limits-${mode}`, {
        threads: 2,
        queueTimeout: 1,
        queueLimit: 1,
        requestTimeout: 4,
        pythonPath: [sitePackages],
        writable: [data],
        env: { DATA: data },
        ...extra,
      }, [
        ["/t", appPath("threads_limits.wsgi")],
        ["/d", appPath("threads_django.wsgi")],
      ]);
      const { base, group } = server;
      try {
        await t.step("queueTimeout and queueLimit count requests", async () => {
          const running = [1, 2].map(() => get(`${base}/t/sleep?s=3`));
          await sleep(300);
          const queued = get(`${base}/t/sleep?s=0`);
          await sleep(300);
          const refused = await get(`${base}/t/sleep?s=0`);
          const [first, second] = await Promise.all(running);
          const timedOut = await queued;
          // Two threads: both sleeps run together, neither waits its turn.
          assert.deepEqual([first.status, second.status], [200, 200]);
          assert.ok(
            Math.abs(first.at - second.at) < 1500,
            `the sleeps ended ${Math.abs(first.at - second.at)} ms apart`,
          );
          // The third waited for a thread, up to queueTimeout (1 s)...
          assert.equal(timedOut.status, 503);
          assert.ok(timedOut.ms >= 900, `503 after ${timedOut.ms} ms`);
          assert.ok(timedOut.at < first.at, "503 before a thread was free");
          // ...and the fourth found the queue full (queueLimit 1).
          assert.equal(refused.status, 503);
          assert.ok(refused.at < timedOut.at, "queue full: refused at once");
          const metrics = group.metrics();
          assert.equal(metrics.queueTimeouts, 1);
          assert.equal(metrics.rejected, 1);
        });

        await t.step(
          "Django: a connection and a transaction per request",
          async () => {
            assert.equal((await get(`${base}/d/setup`)).status, 200);
            const writing = get(`${base}/d/write?name=alpha&wait=1`);
            await sleep(300);
            const reading = get(`${base}/d/read?wait=0.2`);
            const [written, read] = await Promise.all([writing, reading]);
            assert.equal(written.status, 200, written.text);
            assert.equal(read.status, 200, read.text);
            const writer = JSON.parse(written.text);
            const reader = JSON.parse(read.text);
            // Each sees only its own transaction: the reader ran while the
            // writer held "alpha" uncommitted.
            assert.deepEqual(writer.seen, ["alpha"]);
            assert.deepEqual(reader.seen, ["|"]);
            assert.ok(read.at < written.at, "the two interleaved");
            assert.notEqual(writer.thread, reader.thread);
            assert.notEqual(writer.wrapper, reader.wrapper);
            assert.notEqual(writer.connection, reader.connection);
            const after = JSON.parse((await get(`${base}/d/read`)).text);
            assert.deepEqual(after.seen, ["|"], "the writer rolled back");
          },
        );

        await t.step(
          "requestTimeout in recv(): the socket is closed, the worker kept",
          async () => {
            const restarts = group.metrics().restarts;
            await closesAbandonedSocket(base);
            assert.equal(group.metrics().restarts, restarts);
            assert.equal((await get(`${base}/t/sleep?s=0`)).status, 200);
          },
        );

        await t.step(
          "a crash with two requests in flight fails both, then serves on",
          async () => {
            const how = mode === "embedded" ? "abort" : "js";
            const crashes = group.metrics().crashes;
            const bystander = get(`${base}/t/sleep?s=3`);
            await sleep(300);
            const crash = await get(`${base}/t/crash?how=${how}`);
            const other = await bystander;
            assert.equal(crash.status, 502, crash.text);
            assert.equal(other.status, 502, other.text);
            assert.ok(
              other.ms < 2700,
              `the bystander's 502 took ${other.ms} ms`,
            );
            assert.equal(group.metrics().crashes, crashes + 1);
            assert.ok(
              logs.entries.some((e) =>
                e.message.includes(
                  how === "js" ? "crash on purpose" : "fatal error",
                )
              ),
              logs.text(),
            );
            assert.ok(
              logs.entries.some((e) => e.message.includes("worker stopped")),
            );
            // The replacement starts at once (first crash: no back-off).
            await waitFor(
              () => group.metrics().workers.idle > 0,
              60_000,
              "a replacement worker",
            );
            const next = await Promise.all(
              [1, 2].map(() => get(`${base}/t/sleep?s=0.2`)),
            );
            assert.deepEqual(next.map((a) => a.status), [200, 200]);
          },
        );
      } finally {
        logs.stop();
        await server.close();
        Deno.removeSync(data, { recursive: true });
      }
    },
  });

  Deno.test({
    name: `threads 1 (${mode}): requestTimeout in recv() closes the socket`,
    ...options,
    fn: async () => {
      const server = await serveGroup(`threads-one-${mode}`, {
        threads: 1,
        requestTimeout: 2,
        ...extra,
      }, [["/t", appPath("threads_limits.wsgi")]]);
      try {
        await closesAbandonedSocket(server.base);
        assert.equal((await get(`${server.base}/t/sleep?s=0`)).status, 200);
      } finally {
        await server.close();
      }
    },
  });
}
