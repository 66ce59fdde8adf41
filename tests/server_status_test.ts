/**
 * mountServerStatus over real HTTP with a real group: JSON, Prometheus
 * text and HTML with the group's workers, requests and latency; loopback
 * only by default, `allow` otherwise (curl from 127.0.0.2), 403 for others;
 * it wins over a WSGI app mounted at "/".
 */

import assert from "node:assert/strict";
import {
  createRouter,
  defineGroup,
  mountServerStatus,
  mountWsgi,
} from "../mod.ts";
import { appPath } from "./helpers.ts";

const script = appPath("production_app.wsgi");

async function curlFrom(address: string, url: string): Promise<number> {
  const output = await new Deno.Command("curl", {
    args: [
      "--silent",
      "--max-time",
      "20",
      "--interface",
      address,
      "--output",
      "/dev/null",
      "--write-out",
      "%{http_code}",
      url,
    ],
    stdout: "piped",
  }).output();
  return Number(new TextDecoder().decode(output.stdout));
}

Deno.test("server status", async (t) => {
  const group = defineGroup("status-shop", { processes: 1 });
  const router = createRouter();
  // The app at "/" first: the status path must still win.
  mountWsgi(router, "/", script, { group });
  mountServerStatus(router);
  mountServerStatus(router, "/status-for-monitor", { allow: ["127.0.0.2"] });
  await group.ready();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    router.fetch,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    for (let i = 0; i < 3; i++) await (await fetch(`${base}/environ`)).text();
    await t.step("JSON: workers, queue, requests and latency", async () => {
      const response = await fetch(`${base}/server-status`, {
        headers: { accept: "application/json" },
      });
      assert.equal(response.status, 200);
      const status = await response.json();
      const shop = status.groups.find((g: { name: string }) =>
        g.name === "status-shop"
      );
      assert.equal(shop.mode, "processes");
      assert.equal(shop.processes, 1);
      assert.deepEqual(shop.workers, { idle: 1, busy: 0, starting: 0 });
      assert.equal(shop.queueLength, 0);
      assert.equal(shop.requests, 3);
      assert.equal(shop.latency.count, 3);
      assert.ok(
        shop.latency.sum > 0 && shop.latency.sum < 60,
        String(shop.latency.sum),
      );
      assert.equal(shop.latency.buckets.at(-1).count, 3);
      assert.ok(status.uptimeSeconds >= 0);
    });
    await t.step("Prometheus text", async () => {
      const response = await fetch(`${base}/server-status?format=prometheus`);
      assert.match(
        response.headers.get("content-type")!,
        /^text\/plain; version=0.0.4/,
      );
      const text = await response.text();
      assert.match(text, /^wsgi_requests_total\{group="status-shop"\} 3$/m);
      assert.match(
        text,
        /^wsgi_workers\{group="status-shop",state="idle"\} 1$/m,
      );
      assert.match(
        text,
        /^wsgi_request_duration_seconds_count\{group="status-shop"\} 3$/m,
      );
    });
    await t.step("HTML for a browser", async () => {
      const response = await fetch(`${base}/server-status`, {
        headers: { accept: "text/html" },
      });
      assert.match(response.headers.get("content-type")!, /^text\/html/);
      const page = await response.text();
      assert.match(
        page,
        /<td>status-shop<\/td><td>processes<\/td><td>1 \/ 0 \/ 0<\/td><td>0<\/td><td>3<\/td>/,
      );
    });
    await t.step("allow: others get 403", async () => {
      const denied = await fetch(`${base}/status-for-monitor?format=json`);
      assert.equal(denied.status, 403);
      await denied.body?.cancel();
      assert.equal(
        await curlFrom("127.0.0.2", `${base}/status-for-monitor?format=json`),
        200,
      );
      // The default is loopback, and 127.0.0.2 is loopback too.
      assert.equal(await curlFrom("127.0.0.2", `${base}/server-status`), 200);
      const wrong = await fetch(`${base}/server-status?format=xml`);
      assert.equal(wrong.status, 400);
      await wrong.body?.cancel();
    });
  } finally {
    await server.shutdown();
    await group.shutdown();
  }
});

Deno.test("mountServerStatus checks its options", () => {
  assert.throws(
    () => mountServerStatus(createRouter(), "/s", { allow: ["localhost"] }),
    /option "allow"/,
  );
  assert.throws(
    () => mountServerStatus(createRouter(), "/s", { deny: [] } as never),
    /unknown option "deny"/,
  );
});
