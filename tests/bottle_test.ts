/**
 * The Bottle example (examples/bottle) over HTTP through the gateway,
 * embedded in the server's isolate (processes: 0).
 */

import assert from "node:assert/strict";
import { createBottleExample } from "../examples/bottle/server.ts";
import { Browser } from "./browser.ts";
import { collectLogs, serve } from "./helpers.ts";
import { ensurePythonPackages } from "./python_packages.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "bottle example through the gateway (embedded)",
  ...options,
  fn: async (t) => {
    const logs = collectLogs();
    const sitePackages = await ensurePythonPackages();
    const { app, group, mount } = createBottleExample(sitePackages, {
      processes: 0,
      groupName: "bottle-test",
      secret: "test-secret",
    });
    await mount.ready();
    const server = serve(app.fetch);
    const browser = new Browser(server.base);
    try {
      await t.step("a template page with URLs under the mount", async () => {
        const page = await browser.get("/bottle/");
        assert.equal(page.status, 200);
        assert.match(page.headers.get("content-type")!, /^text\/html/);
        const html = await page.text();
        assert.match(html, /<h1>To-do<\/h1>/);
        assert.match(html, /action="\/bottle\/todos"/);
        assert.match(html, /href="\/bottle\/static\/todo.css"/);
        const css = await fetch(`${server.base}/bottle/static/todo.css`);
        assert.equal(css.status, 200);
        assert.match(await css.text(), /line-through/);
        const root = await browser.get("/");
        assert.equal(root.status, 302);
        assert.equal(root.headers.get("location"), "/bottle/");
        await root.body?.cancel();
      });

      await t.step(
        "form POSTs redirect to the index, under /bottle",
        async () => {
          const added = await browser.post(
            "/bottle/todos",
            new URLSearchParams({ text: "water the plants" }),
          );
          assert.equal(added.status, 303);
          assert.equal(
            added.headers.get("location"),
            `${server.base}/bottle/`,
          );
          await added.body?.cancel();
          await (await browser.post(
            "/bottle/todos",
            new URLSearchParams({ text: "Grüße & <tags>" }),
          )).body?.cancel();
          const html = await (await browser.get("/bottle/")).text();
          assert.match(html, /<li class="open">water the plants/);
          // Escaped by the template, decoded as UTF-8.
          assert.match(html, /Grüße &amp; &lt;tags&gt;/);
          assert.match(html, /action="\/bottle\/todos\/1\/done"/);
          const done = await browser.post("/bottle/todos/1/done", "");
          assert.equal(done.status, 303);
          await done.body?.cancel();
          assert.match(
            await (await browser.get("/bottle/")).text(),
            /<li class="done">water the plants/,
          );
          const missing = await browser.post("/bottle/todos/99/done", "");
          assert.equal(missing.status, 404);
          await missing.body?.cancel();
          const empty = await browser.post(
            "/bottle/todos",
            new URLSearchParams({ text: " " }),
          );
          assert.equal(empty.status, 400);
          assert.match(await empty.text(), /Write something first/);
        },
      );

      await t.step("the JSON API", async () => {
        const response = await fetch(`${server.base}/bottle/api/todos`);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("content-type"), "application/json");
        const body = await response.json();
        assert.equal(body.count, 2);
        assert.deepEqual(body.todos[0], {
          id: 1,
          text: "water the plants",
          done: true,
        });
        assert.equal(body.todos[1].text, "Grüße & <tags>");
      });

      await t.step("a signed cookie, scoped to the mount", async () => {
        const named = await browser.post(
          "/bottle/name",
          new URLSearchParams({ name: "Ann" }),
        );
        assert.equal(named.status, 303);
        await named.body?.cancel();
        const cookie = browser.cookies.get("name");
        assert.ok(cookie, "no cookie set");
        assert.equal(cookie.attributes["path"], "/bottle/");
        assert.ok("httponly" in cookie.attributes);
        assert.match(
          await (await browser.get("/bottle/")).text(),
          /<h1>To-do, Ann<\/h1>/,
        );
        // A cookie that was not signed with the secret is ignored.
        const forged = await fetch(`${server.base}/bottle/`, {
          headers: { cookie: `name=${cookie.value.replace(/.$/, "A")}` },
        });
        assert.match(await forged.text(), /<h1>To-do<\/h1>/);
      });

      await t.step("a multipart upload", async () => {
        const data = new TextEncoder().encode("x".repeat(300_000) + "end");
        const form = new FormData();
        form.append("file", new Blob([data]), "notes.txt");
        const response = await browser.post("/bottle/upload", form);
        assert.equal(response.status, 200);
        const body = await response.json();
        assert.equal(body.filename, "notes.txt");
        assert.equal(body.size, data.length);
        const digest = await crypto.subtle.digest("SHA-256", data);
        assert.equal(
          body.sha256,
          [...new Uint8Array(digest)].map((b) =>
            b.toString(16).padStart(2, "0")
          ).join(""),
        );
      });

      await t.step(
        "Bottle's 404, TypeScript beside it, a clean log",
        async () => {
          const missing = await fetch(`${server.base}/bottle/nope`);
          assert.equal(missing.status, 404);
          assert.equal(await missing.text(), "Not found: /nope");
          const ping = await fetch(`${server.base}/api/ping`);
          assert.equal(await ping.text(), "pong from TypeScript");
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
