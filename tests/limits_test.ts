/**
 * limitRequestBody over real HTTP: 413 before the app for a declared
 * length, and for a chunked body that grows past the limit (buffered: the
 * app is not called; streamed: the app sees OSError on read), in a Web
 * Worker, a worker process and embedded.
 */

import assert from "node:assert/strict";
import { appPath, collectLogs, serveGroup } from "./helpers.ts";
import type { GroupOptions } from "../mod.ts";

const script = appPath("production_app.wsgi");
// One interpreter for the three mounts: a third of the start-up time.
const shared = { applicationGroup: "%{GLOBAL}" };

/** Sends only the head of a request and reads the status line back. */
async function statusOfHead(port: number, head: string): Promise<string> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await connection.write(new TextEncoder().encode(head));
    const buffer = new Uint8Array(1024);
    const n = await connection.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split(
      "\r\n",
    )[0];
  } finally {
    connection.close();
  }
}

function chunked(size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close();
      const piece = Math.min(16384, size - sent);
      sent += piece;
      controller.enqueue(new Uint8Array(piece).fill(97));
    },
  });
}

const modes: [string, GroupOptions][] = [
  ["worker", { processes: 1 }],
  ["process", { processes: 1, isolation: "process" }],
  ["embedded", { processes: 0 }],
];

for (const [mode, options] of modes) {
  Deno.test(`limitRequestBody (${mode})`, async (t) => {
    const logs = collectLogs();
    const server = await serveGroup(`limits-${mode}`, options, [
      ["/small", script, { limitRequestBody: 100_000, ...shared }],
      ["/stream", script, {
        limitRequestBody: 100_000,
        requestBuffering: false,
        ...shared,
      }],
      ["/open", script, { limitRequestBody: 0, ...shared }],
      ["/default", script, shared],
    ]);
    try {
      await t.step(
        "a declared length over the limit: 413, app not called",
        async () => {
          const response = await fetch(`${server.base}/small/upload`, {
            method: "POST",
            body: new Uint8Array(100_001),
          });
          assert.equal(response.status, 413);
          await response.body?.cancel();
          const calls = await (await fetch(`${server.base}/small/calls`))
            .json();
          assert.equal(calls.upload, 0);
        },
      );
      await t.step("at the limit: the app reads it all", async () => {
        const response = await fetch(`${server.base}/small/upload`, {
          method: "POST",
          body: new Uint8Array(100_000),
        });
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { size: 100_000 });
      });
      await t.step(
        "a chunked body growing past it: 413, app not called",
        async () => {
          const before = await (await fetch(`${server.base}/small/calls`))
            .json();
          const response = await fetch(`${server.base}/small/upload`, {
            method: "POST",
            body: chunked(400_000),
          });
          assert.equal(response.status, 413);
          await response.body?.cancel();
          const calls = await (await fetch(`${server.base}/small/calls`))
            .json();
          assert.equal(calls.upload, before.upload);
        },
      );
      await t.step(
        "streamed (requestBuffering: false), growing past it: read error, 413",
        async () => {
          const response = await fetch(`${server.base}/stream/upload`, {
            method: "POST",
            body: chunked(400_000),
          });
          assert.equal(response.status, 413);
          await response.body?.cancel();
          assert.match(
            logs.text(),
            /upload failed: OSError\('request data read error: .*limitRequestBody \(100000 bytes\)/,
          );
        },
      );
      await t.step("a chunked body under it streams through", async () => {
        const response = await fetch(`${server.base}/small/upload`, {
          method: "POST",
          body: chunked(90_000),
        });
        assert.deepEqual(await response.json(), { size: 90_000 });
      });
      await t.step("0: no limit", async () => {
        const response = await fetch(`${server.base}/open/upload`, {
          method: "POST",
          body: chunked(600_000),
        });
        assert.deepEqual(await response.json(), { size: 600_000 });
      });
      await t.step("default 10485760, as mod_wsgi-express", async () => {
        const port = Number(new URL(server.base).port);
        const status = await statusOfHead(
          port,
          "POST /default/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n",
        );
        assert.equal(status, "HTTP/1.1 413 Payload Too Large");
        const response = await fetch(`${server.base}/default/upload`, {
          method: "POST",
          body: chunked(10_485_761),
        });
        assert.equal(response.status, 413);
        await response.body?.cancel();
      });
    } finally {
      await server.close();
      logs.stop();
    }
  });
}

Deno.test("limitRequestBody is checked", async () => {
  const { createRouter, mountWsgi } = await import("../mod.ts");
  for (const bad of [-1, 1.5]) {
    assert.throws(
      () => mountWsgi(createRouter(), "/x", script, { limitRequestBody: bad }),
      (error) =>
        error instanceof RangeError && /"limitRequestBody"/.test(error.message),
    );
  }
  assert.throws(
    () =>
      mountWsgi(createRouter(), "/x", script, {
        limitRequestBody: "1M" as unknown as number,
      }),
    (error) =>
      error instanceof TypeError && /"limitRequestBody"/.test(error.message),
  );
});
