/**
 * withAccessLog over real HTTP with a real WSGI app: Apache's combined
 * format and JSON lines, the bytes really sent (a streamed body counted as
 * it goes, and cut short when the client goes away), a log file.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createRouter, defineGroup, mountWsgi, withAccessLog } from "../mod.ts";
import { appPath, waitFor } from "./helpers.ts";

const script = appPath("production_app.wsgi");
const COMBINED =
  /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "(.*)" (\d{3}) (\d+|-) "(.*)" "(.*)"$/;

Deno.test("access log", async (t) => {
  const group = defineGroup("access-log", { processes: 0 });
  const router = createRouter();
  mountWsgi(router, "/app", script, { group });
  router.all("/ts", () => new Response("from TypeScript"));
  await group.ready();
  const combined: string[] = [];
  const json: string[] = [];
  const folder = await Deno.makeTempDir({ prefix: "deno-wsgi-access-" });
  const file = join(folder, "access.log");
  const handler = withAccessLog(
    withAccessLog(
      withAccessLog(router.fetch, { sink: (line) => combined.push(line) }),
      { format: "json", sink: (line) => json.push(line) },
    ),
    { path: file },
  );
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    await t.step(
      "combined: request line, status, bytes, referer, agent",
      async () => {
        const response = await fetch(`${base}/app/stream?x=%20y`, {
          headers: {
            "Referer": 'http://example.com/"quoted"',
            "User-Agent": "tester/1.0",
          },
        });
        assert.equal((await response.text()).length, 5000);
        await waitFor(() => combined.length === 1, 5000, "the log line");
        const match = combined[0].match(COMBINED);
        assert.ok(match, combined[0]);
        const [, requestLine, status, bytes, referer, agent] = match;
        assert.equal(requestLine, "GET /app/stream?x=%20y HTTP/1.1");
        assert.equal(status, "200");
        assert.equal(bytes, "5000");
        assert.equal(referer, 'http://example.com/\\"quoted\\"');
        assert.equal(agent, "tester/1.0");
      },
    );
    await t.step("no body: '-'; a TypeScript route is logged too", async () => {
      await (await fetch(`${base}/app/stream`, { method: "HEAD" })).body
        ?.cancel();
      await (await fetch(`${base}/ts`)).text();
      await waitFor(() => combined.length === 3, 5000, "the log lines");
      assert.match(combined[1], /"HEAD \/app\/stream HTTP\/1.1" 200 - "-" "/);
      assert.match(combined[2], /"GET \/ts HTTP\/1.1" 200 15 /);
    });
    await t.step("a client that goes away: the bytes it got", async () => {
      const controller = new AbortController();
      const response = await fetch(`${base}/app/slow-stream`, {
        signal: controller.signal,
      });
      const reader = response.body!.getReader();
      await reader.read();
      controller.abort();
      await reader.cancel().catch(() => {});
      await waitFor(() => combined.length === 4, 10_000, "the log line");
      const bytes = Number(combined[3].match(COMBINED)![3]);
      assert.ok(bytes >= 1000 && bytes < 50_000, combined[3]);
    });
    await t.step("JSON lines and the file get the same requests", async () => {
      assert.equal(json.length, 4);
      const first = JSON.parse(json[0]);
      assert.equal(first.remote, "127.0.0.1");
      assert.equal(first.method, "GET");
      assert.equal(first.target, "/app/stream?x=%20y");
      assert.equal(first.protocol, "HTTP/1.1");
      assert.equal(first.status, 200);
      assert.equal(first.bytes, 5000);
      assert.equal(first.userAgent, "tester/1.0");
      assert.equal(typeof first.durationMs, "number");
      assert.ok(!Number.isNaN(Date.parse(first.time)));
      const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
      assert.deepEqual(lines, combined);
    });
  } finally {
    await server.shutdown();
    await group.shutdown();
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("withAccessLog checks its options", () => {
  const handler = () => new Response("");
  assert.throws(
    () => withAccessLog(handler, { format: "common" as "json" }),
    /option "format" must be "combined" or "json"/,
  );
  assert.throws(
    () => withAccessLog(handler, { path: "-", sink: () => {} }),
    /"path" or "sink", not both/,
  );
});
