/**
 * The Flask + SQLAlchemy + PostgreSQL example (examples/flask-postgres)
 * over HTTP through the gateway, on a private PostgreSQL (tests/servers.ts)
 * reached by pg8000 over a real loopback socket from inside Pyodide.
 */

import assert from "node:assert/strict";
import { createPostgresExample } from "../examples/flask-postgres/server.ts";
import { collectLogs, serve } from "./helpers.ts";
import { ensurePythonPackages } from "./python_packages.ts";
import { freePort, startPostgres } from "./servers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

interface Entry {
  id: number;
  author: string;
  message: string;
  created_at: string;
}

// Each is a round trip that a wrong encoding anywhere (HTTP form, JSON,
// WSGI bytes, pg8000's client_encoding, the database) would break.
const UNICODE = [
  { author: "Zoë Ångström", message: "naïve café, déjà vu" },
  { author: "李小龍", message: "你好，世界 — こんにちは — 안녕하세요" },
  { author: "Ἀριστοτέλης", message: "🐘 PostgreSQL 🐍 Python 🦕 Deno ✓" },
  {
    author: "a\u0301 (combining)",
    message: "<b>not bold</b> & 'quotes' \"too\"",
  },
];

Deno.test({
  name: "flask-postgres example through the gateway",
  ...options,
  fn: async (t) => {
    const logs = collectLogs();
    const sitePackages = await ensurePythonPackages();
    const postgres = await startPostgres();
    const { app, group, mount } = createPostgresExample(sitePackages, {
      databaseUrl: postgres.url, // plain postgresql://: switched to pg8000
      processes: 1,
      groupName: "flask-postgres-test",
    });
    const server = serve(app.fetch);
    const get = (path: string) => fetch(`${server.base}${path}`);
    const list = async (): Promise<Entry[]> => {
      const response = await get("/guestbook/api/entries");
      assert.equal(response.status, 200);
      return (await response.json()).entries;
    };
    try {
      await mount.ready();

      await t.step("the table is created at start-up", async () => {
        const tables = await postgres.query(
          "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
        );
        assert.match(tables, /^guestbook_entries$/m);
        const health = await (await get("/guestbook/api/health")).json();
        assert.equal(health.database, "ok");
        assert.match(health.server, /^PostgreSQL \d+/);
        assert.match(logs.text(), /guestbook: using postgresql\+pg8000:\/\//);
        assert.doesNotMatch(logs.text(), new RegExp(postgres.password));
      });

      await t.step("an empty guestbook, a TS route and the alias", async () => {
        const page = await get("/guestbook/");
        assert.equal(page.status, 200);
        assert.match(await page.text(), /No entries yet/);
        assert.deepEqual(await list(), []);
        const ping = await get("/api/ping");
        assert.equal(await ping.text(), "pong from TypeScript");
        const css = await get("/guestbook/static/style.css");
        assert.equal(css.status, 200);
        assert.ok(css.headers.get("etag"), "served by the alias, not Flask");
        await css.body?.cancel();
      });

      let formId = 0;
      await t.step("the form adds an entry and redirects", async () => {
        const response = await fetch(`${server.base}/guestbook/`, {
          method: "POST",
          body: new URLSearchParams({ author: "Form", message: "via HTML" }),
          redirect: "manual",
        });
        assert.equal(response.status, 303);
        assert.equal(
          new URL(response.headers.get("location")!, server.base).pathname,
          "/guestbook/",
        );
        await response.body?.cancel();
        const html = await (await get("/guestbook/")).text();
        const found = html.match(/<li id="entry-(\d+)">/);
        assert.ok(found, html);
        formId = Number(found[1]);
        assert.match(html, /<b class="author">Form<\/b>/);
        const missing = await fetch(`${server.base}/guestbook/`, {
          method: "POST",
          body: new URLSearchParams({ author: "", message: "x" }),
        });
        assert.equal(missing.status, 400);
        assert.match(await missing.text(), /Both a name and a message/);
      });

      const added: Entry[] = [];
      await t.step("unicode round-trips through JSON and HTML", async () => {
        for (const entry of UNICODE) {
          const response = await fetch(`${server.base}/guestbook/api/entries`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(entry),
          });
          assert.equal(response.status, 201);
          const body: Entry = await response.json();
          assert.equal(body.author, entry.author);
          assert.equal(body.message, entry.message);
          assert.equal(
            response.headers.get("location"),
            `/guestbook/api/entries/${body.id}`,
          );
          added.push(body);
        }
        for (const entry of added) {
          const one = await get(`/guestbook/api/entries/${entry.id}`);
          assert.equal(one.status, 200);
          assert.deepEqual(await one.json(), entry);
        }
        const entries = await list();
        assert.deepEqual(
          entries.map((e) => e.id),
          [...added.map((e) => e.id).reverse(), formId],
        );
        const html = await (await get("/guestbook/")).text();
        for (const entry of UNICODE.slice(0, 3)) {
          assert.ok(html.includes(entry.author), entry.author);
          assert.ok(html.includes(entry.message), entry.message);
        }
        // Escaped by Jinja, not interpreted.
        assert.ok(html.includes("&lt;b&gt;not bold&lt;/b&gt;"));
        // What PostgreSQL itself stored, read by its own client.
        const stored = await postgres.query(
          `SELECT message FROM guestbook_entries WHERE id = ${added[2].id}`,
        );
        assert.equal(stored.trim(), UNICODE[2].message);
      });

      await t.step("deleting through the API and the form", async () => {
        const gone = await fetch(
          `${server.base}/guestbook/api/entries/${added[0].id}`,
          { method: "DELETE" },
        );
        assert.equal(gone.status, 204);
        await gone.body?.cancel();
        const again = await fetch(
          `${server.base}/guestbook/api/entries/${added[0].id}`,
          { method: "DELETE" },
        );
        assert.equal(again.status, 404);
        await again.body?.cancel();
        const form = await fetch(
          `${server.base}/guestbook/entries/${formId}/delete`,
          { method: "POST", redirect: "manual" },
        );
        assert.equal(form.status, 303);
        await form.body?.cancel();
        const missing = await get(`/guestbook/api/entries/${formId}`);
        assert.equal(missing.status, 404);
        await missing.body?.cancel();
        assert.deepEqual(
          (await list()).map((e) => e.id),
          added.slice(1).map((e) => e.id).reverse(),
        );
      });

      await t.step("the data survives a restart of the group", async () => {
        const before = await list();
        const restarts = group.metrics().restarts;
        await group.restart();
        await group.ready();
        assert.ok(group.metrics().restarts > restarts);
        assert.deepEqual(await list(), before);
        // And the restarted workers write too.
        const response = await fetch(`${server.base}/guestbook/api/entries`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ author: "après", message: "redémarrage ✓" }),
        });
        assert.equal(response.status, 201);
        await response.body?.cancel();
        assert.equal((await list()).length, before.length + 1);
      });
    } finally {
      await server.close();
      await group.shutdown();
      await postgres.stop();
      logs.stop();
    }
  },
});

Deno.test({
  name:
    "flask-postgres example: a missing DATABASE_URL or an unreachable database is one log line and a 500 page, not a hang",
  ...options,
  fn: async (t) => {
    const logs = collectLogs();
    const sitePackages = await ensurePythonPackages();
    const unset = createPostgresExample(sitePackages, {
      groupName: "flask-postgres-unset",
    });
    // A port nothing listens on: the connection is refused at once.
    const closed = createPostgresExample(sitePackages, {
      databaseUrl: `postgresql://nobody:secret@127.0.0.1:${freePort()}/none`,
      groupName: "flask-postgres-closed",
    });
    const unsetServer = serve(unset.app.fetch);
    const closedServer = serve(closed.app.fetch);
    try {
      await unset.mount.ready();
      await closed.mount.ready();

      await t.step("without DATABASE_URL", async () => {
        for (let i = 0; i < 3; i++) {
          const page = await fetch(`${unsetServer.base}/guestbook/`, {
            signal: AbortSignal.timeout(15_000),
          });
          assert.equal(page.status, 500);
          assert.match(await page.text(), /DATABASE_URL is not set/);
        }
        const api = await fetch(`${unsetServer.base}/guestbook/api/entries`);
        assert.equal(api.status, 500);
        assert.match((await api.json()).error, /DATABASE_URL is not set/);
        const lines = logs.entries.filter((e) =>
          e.message.includes("DATABASE_URL is not set")
        );
        assert.equal(lines.length, 1, logs.text());
      });

      await t.step("with the database unreachable", async () => {
        for (let i = 0; i < 3; i++) {
          const page = await fetch(`${closedServer.base}/guestbook/`, {
            signal: AbortSignal.timeout(15_000),
          });
          assert.equal(page.status, 500);
          const html = await page.text();
          assert.match(html, /cannot reach the database/);
          assert.match(html, /nobody:\*\*\*@127\.0\.0\.1/);
          assert.doesNotMatch(html, /secret/);
        }
        const lines = logs.entries.filter((e) =>
          e.message.includes("cannot reach the database")
        );
        assert.equal(lines.length, 1, logs.text());
        assert.doesNotMatch(logs.text(), /Traceback/);
      });
    } finally {
      await unsetServer.close();
      await closedServer.close();
      await unset.group.shutdown();
      await closed.group.shutdown();
      logs.stop();
    }
  },
});
