/**
 * The Flask example (examples/flask-beside-hono) over HTTP through the
 * gateway: Flask 3 from a pip --target folder, mounted at /app in Hono
 * beside TypeScript routes and static aliases, in one Web Worker.
 */

import assert from "node:assert/strict";
import { createFlaskExample } from "../examples/flask-beside-hono/server.ts";
import { Browser } from "./browser.ts";
import { collectLogs, rawRequest, serve } from "./helpers.ts";
import { ensurePythonPackages } from "./python_packages.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

Deno.test({
  name: "flask example through the gateway",
  ...options,
  fn: async (t) => {
    const logs = collectLogs();
    const sitePackages = await ensurePythonPackages();
    const { app, group, mount } = createFlaskExample(sitePackages, {
      processes: 1,
      groupName: "flask-test",
      secretKey: "test-secret",
    });
    await mount.ready();
    const server = serve(app.fetch);
    const browser = new Browser(server.base);
    try {
      await t.step(
        "a template page sets a session cookie that counts visits",
        async () => {
          const first = await browser.get("/app/");
          assert.equal(first.status, 200);
          assert.match(first.headers.get("content-type")!, /^text\/html/);
          const html = await first.text();
          assert.match(html, /<h1>Flask, mounted at \/app<\/h1>/);
          assert.match(html, /Visits in this session: 1</);
          // url_for builds URLs under the mount, because SCRIPT_NAME is /app.
          assert.match(html, /href="\/app\/static\/style.css"/);
          assert.match(html, /href="\/app\/guestbook"/);
          assert.match(html, /href="\/app\/api\/items\/3"/);
          const session = browser.cookies.get("session");
          assert.ok(session, "Flask set no session cookie");
          assert.ok("httponly" in session.attributes);
          const second = await browser.get("/app/");
          assert.match(await second.text(), /Visits in this session: 2</);
          // Without the cookie, a new session starts.
          const anonymous = await fetch(`${server.base}/app/`);
          assert.match(await anonymous.text(), /Visits in this session: 1</);
        },
      );

      await t.step(
        "TypeScript routes and static aliases answer beside Flask",
        async () => {
          const ping = await fetch(`${server.base}/api/ping`);
          assert.equal(await ping.text(), "pong from TypeScript");
          const time = await (await fetch(`${server.base}/api/time`)).json();
          assert.ok(!Number.isNaN(Date.parse(time.now)));
          const css = await fetch(`${server.base}/app/static/style.css`);
          assert.equal(css.status, 200);
          assert.match(css.headers.get("content-type")!, /^text\/css/);
          // Served by the alias, not by Flask: an ETag, and no session Vary.
          assert.ok(css.headers.get("etag"));
          assert.equal(css.headers.get("vary"), null);
          assert.match(await css.text(), /font-family/);
          const robots = await fetch(`${server.base}/robots.txt`);
          assert.match(await robots.text(), /Disallow: \/app\/upload/);
          const before = group.metrics().requests;
          await (await fetch(`${server.base}/app/static/style.css`)).body
            ?.cancel();
          assert.equal(
            group.metrics().requests,
            before,
            "the alias hit Python",
          );
        },
      );

      await t.step(
        "a form POST redirects with url_for to /app/...",
        async () => {
          const posted = await browser.post(
            "/app/guestbook",
            new URLSearchParams({ name: "Ann", message: "Hello from a test" }),
          );
          assert.equal(posted.status, 302);
          assert.equal(
            new URL(posted.headers.get("location")!, server.base).pathname,
            "/app/guestbook",
          );
          await posted.body?.cancel();
          const page = await browser.get("/app/guestbook");
          const html = await page.text();
          assert.match(html, /<b>Ann<\/b>: Hello from a test/);
          assert.match(html, /class="flash ok">Thanks, Ann!/);
          // The flash message is gone from the session after being shown.
          assert.doesNotMatch(
            await (await browser.get("/app/guestbook")).text(),
            /Thanks, Ann!/,
          );
          const invalid = await browser.post(
            "/app/guestbook",
            new URLSearchParams({ name: "", message: "" }),
          );
          assert.equal(invalid.status, 400);
          assert.match(await invalid.text(), /Both a name and a message/);
        },
      );

      await t.step("sign-in is kept in the signed session cookie", async () => {
        const login = await browser.post(
          "/app/login",
          new URLSearchParams({ user: "ann" }),
        );
        assert.equal(login.status, 302);
        assert.equal(
          new URL(login.headers.get("location")!, server.base).pathname,
          "/app/",
        );
        await login.body?.cancel();
        const me = await (await browser.get("/app/api/whoami")).json();
        assert.equal(me.user, "ann");
        const stranger = await (await fetch(`${server.base}/app/api/whoami`))
          .json();
        assert.equal(stranger.user, null);
        // A forged cookie is not trusted.
        const value = browser.cookies.get("session")!.value;
        const forged = await (await fetch(`${server.base}/app/api/whoami`, {
          headers: { cookie: `session=${value.slice(0, -2)}xx` },
        })).json();
        assert.equal(forged.user, null);
        const logout = await browser.post("/app/logout", "");
        assert.equal(logout.status, 302);
        await logout.body?.cancel();
        assert.equal(
          (await (await browser.get("/app/api/whoami")).json()).user,
          null,
        );
      });

      await t.step("the JSON API reads and writes", async () => {
        const tea = await fetch(`${server.base}/app/api/items?tag=tea`);
        assert.equal(tea.status, 200);
        assert.equal(tea.headers.get("content-type"), "application/json");
        const body = await tea.json();
        assert.equal(body.count, 3);
        assert.equal(body.total, 36.75);
        assert.equal(body.link, "/app/api/items");
        const created = await fetch(`${server.base}/app/api/items`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "strainer", price: 4.5, tags: ["tea"] }),
        });
        assert.equal(created.status, 201);
        const location = created.headers.get("location")!;
        assert.equal(
          new URL(location, server.base).pathname,
          "/app/api/items/5",
        );
        assert.deepEqual(await created.json(), {
          id: 5,
          name: "strainer",
          price: 4.5,
          tags: ["tea"],
        });
        const fetched = await fetch(new URL(location, server.base));
        assert.equal((await fetched.json()).name, "strainer");
        const missing = await fetch(`${server.base}/app/api/items/99`);
        assert.equal(missing.status, 404);
        assert.deepEqual(await missing.json(), { error: "no item 99" });
        const bad = await fetch(`${server.base}/app/api/items`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "[1, 2]",
        });
        assert.equal(bad.status, 400);
        await bad.body?.cancel();
      });

      await t.step("multipart uploads, small and streamed", async () => {
        for (const size of [1000, 3 * 1024 * 1024 + 17]) {
          const data = new Uint8Array(size);
          for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >> 10)) & 255;
          const form = new FormData();
          form.append("note", "size " + size);
          form.append(
            "file",
            new Blob([data], { type: "application/octet-stream" }),
            "data.bin",
          );
          const response = await browser.post("/app/upload", form);
          assert.equal(response.status, 200, `upload of ${size} bytes`);
          const result = await response.json();
          assert.equal(result.filename, "data.bin");
          assert.equal(result.content_type, "application/octet-stream");
          assert.equal(result.size, size);
          assert.equal(result.sha256, await sha256(data));
          assert.equal(result.note, "size " + size);
        }
        const empty = await browser.post("/app/upload", new FormData());
        assert.equal(empty.status, 400);
        await empty.body?.cancel();
        const page = await browser.get("/app/upload");
        assert.match(await page.text(), /enctype="multipart\/form-data"/);
      });

      await t.step(
        "a streamed response arrives chunked, in order",
        async () => {
          const response = await rawRequest(
            server.port,
            "GET /app/stream?count=20 HTTP/1.1",
          );
          assert.equal(response.status, 200);
          const headers = new Map(response.headers);
          assert.equal(headers.get("transfer-encoding"), "chunked");
          assert.equal(headers.get("content-length"), undefined);
          const lines = new TextDecoder().decode(response.body).trimEnd().split(
            "\n",
          );
          assert.equal(lines[0], "streaming 20 lines for /stream");
          assert.deepEqual(
            lines.slice(1),
            Array.from({ length: 20 }, (_, i) => `line ${i}`),
          );
        },
      );

      await t.step(
        "Flask's own 404 page, and no error in the log",
        async () => {
          const response = await fetch(`${server.base}/app/no/such/page`);
          assert.equal(response.status, 404);
          assert.match(await response.text(), /Nothing at \/no\/such\/page/);
          const errors = logs.entries.filter((e) => e.level === "error");
          assert.deepEqual(errors.map((e) => e.message), []);
        },
      );
    } finally {
      logs.stop();
      await server.close();
      await group.shutdown();
    }
  },
});
