/**
 * The Django example (examples/django) over HTTP through the gateway:
 * Django 5.2 from a pip --target folder in one Web Worker, SQLite through
 * the ORM (no DJANGO_ALLOW_ASYNC_UNSAFE), CSRF, the superuser that startup
 * created, the admin login, and the admin's static files from an alias.
 */

import assert from "node:assert/strict";
import { createDjangoExample } from "../examples/django/server.ts";
import { Browser } from "./browser.ts";
import { collectLogs, serve } from "./helpers.ts";
import { ensurePythonPackages } from "./python_packages.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

function hiddenToken(html: string): string {
  const match = html.match(
    /name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"/,
  );
  assert.ok(match, "no csrfmiddlewaretoken in the form");
  return match[1];
}

Deno.test({
  name: "django example through the gateway",
  ...options,
  fn: async (t) => {
    const logs = collectLogs();
    const sitePackages = await ensurePythonPackages();
    const dataDir = await Deno.makeTempDir({ prefix: "django-test-" });
    const superuser = { username: "root", password: "correct horse 42" };
    const { app, group, mount } = createDjangoExample(sitePackages, {
      dataDir,
      processes: 1,
      groupName: "django-test",
      superuser,
      secretKey: "test-secret-key-that-is-long-enough-for-django-0123456789",
    });
    await mount.ready();
    const server = serve(app.fetch);
    try {
      await t.step("startup migrated SQLite in the data folder", async () => {
        const info = await Deno.stat(`${dataDir}/db.sqlite3`);
        assert.ok(info.isFile && info.size > 0);
      });

      await t.step(
        "a form with CSRF: refused without the token, saved with it",
        async () => {
          const browser = new Browser(server.base);
          const page = await browser.get("/");
          assert.equal(page.status, 200);
          const html = await page.text();
          assert.match(html, /No notes yet\./);
          assert.match(html, /href="\/static\/notes.css"/);
          const token = hiddenToken(html);
          assert.ok(browser.cookies.get("csrftoken"), "no csrftoken cookie");

          const forged = await browser.post(
            "/",
            new URLSearchParams({ title: "forged", body: "no token" }),
          );
          assert.equal(forged.status, 403);
          assert.match(await forged.text(), /CSRF verification failed/);
          const stranger = await fetch(`${server.base}/`, {
            method: "POST",
            body: new URLSearchParams({
              title: "no cookie",
              csrfmiddlewaretoken: token,
            }),
          });
          assert.equal(stranger.status, 403);
          await stranger.body?.cancel();

          const saved = await browser.post(
            "/",
            new URLSearchParams({
              csrfmiddlewaretoken: token,
              title: "Pyodide runs Django",
              body: "through the ORM\nwith SQLite",
            }),
          );
          assert.equal(saved.status, 302);
          assert.equal(saved.headers.get("location"), "/");
          await saved.body?.cancel();
          const after = await (await browser.get("/")).text();
          assert.match(after, /Saved “Pyodide runs Django”\./);
          assert.match(
            after,
            /<a href="\/notes\/1\/">Pyodide runs Django<\/a>/,
          );
          const detail = await browser.get("/notes/1/");
          assert.match(await detail.text(), /through the ORM<br>with SQLite/);
          const missing = await browser.get("/notes/99/");
          assert.equal(missing.status, 404);
          await missing.body?.cancel();

          const invalid = await browser.post(
            "/",
            new URLSearchParams({ csrfmiddlewaretoken: token, title: "" }),
          );
          assert.equal(invalid.status, 400);
          assert.match(await invalid.text(), /This field is required/);
        },
      );

      await t.step("the ORM needs no DJANGO_ALLOW_ASYNC_UNSAFE", async () => {
        const api = await (await fetch(`${server.base}/api/notes`)).json();
        assert.equal(api.count, 1);
        assert.equal(api.notes[0].title, "Pyodide runs Django");
        assert.equal(api.async_unsafe_allowed, false);
      });

      await t.step("the admin's static files come from the alias", async () => {
        const before = group.metrics().requests;
        const css = await fetch(`${server.base}/static/admin/css/base.css`);
        assert.equal(css.status, 200);
        assert.match(css.headers.get("content-type")!, /^text\/css/);
        assert.match(await css.text(), /DJANGO Admin styles/);
        const own = await fetch(`${server.base}/static/notes.css`);
        assert.equal(own.status, 200);
        await own.body?.cancel();
        assert.equal(group.metrics().requests, before, "static hit Python");
      });

      await t.step("the superuser logs in to the admin", async () => {
        const browser = new Browser(server.base);
        const anonymous = await browser.get("/admin/");
        assert.equal(anonymous.status, 302);
        assert.equal(
          anonymous.headers.get("location"),
          "/admin/login/?next=/admin/",
        );
        await anonymous.body?.cancel();
        const form = await browser.get("/admin/login/?next=/admin/");
        assert.equal(form.status, 200);
        const html = await form.text();
        assert.match(html, /href="\/static\/admin\/css\/base.css"/);
        const token = hiddenToken(html);

        const wrong = await browser.post(
          "/admin/login/?next=/admin/",
          new URLSearchParams({
            csrfmiddlewaretoken: token,
            username: superuser.username,
            password: "wrong password",
            next: "/admin/",
          }),
        );
        assert.equal(wrong.status, 200);
        assert.match(
          await wrong.text(),
          /Please enter the correct username and password/,
        );

        const login = await browser.post(
          "/admin/login/?next=/admin/",
          new URLSearchParams({
            csrfmiddlewaretoken: token,
            username: superuser.username,
            password: superuser.password,
            next: "/admin/",
          }),
        );
        assert.equal(login.status, 302);
        assert.equal(login.headers.get("location"), "/admin/");
        await login.body?.cancel();
        assert.ok(browser.cookies.get("sessionid"), "no session cookie");

        const index = await browser.get("/admin/");
        assert.equal(index.status, 200);
        const admin = await index.text();
        assert.match(admin, /Site administration/);
        assert.match(
          admin,
          new RegExp(`<strong>${superuser.username}</strong>`),
        );
        const notes = await browser.get("/admin/notes/note/");
        assert.equal(notes.status, 200);
        assert.match(await notes.text(), /Pyodide runs Django/);
      });

      await t.step("the password hash is Django's default PBKDF2", async () => {
        // Checked by Python against CPython's pbkdf2_hmac in compat_test.ts;
        // here: the hash the admin login verified has the default format.
        const browser = new Browser(server.base);
        const page = await browser.get("/admin/login/");
        const token = hiddenToken(await page.text());
        const login = await browser.post(
          "/admin/login/",
          new URLSearchParams({
            csrfmiddlewaretoken: token,
            username: superuser.username,
            password: superuser.password,
            next: "/admin/auth/user/1/change/",
          }),
        );
        assert.equal(login.status, 302);
        await login.body?.cancel();
        const user = await (await browser.get("/admin/auth/user/1/change/"))
          .text();
        assert.match(user, /pbkdf2_sha256/);
        assert.match(user, /1000000|1,000,000/);
      });

      await t.step("nothing went wrong in the log", () => {
        const text = logs.text();
        assert.doesNotMatch(text, /SynchronousOnlyOperation/);
        const errors = logs.entries.filter((e) => e.level === "error");
        assert.deepEqual(errors.map((e) => e.message), []);
      });
    } finally {
      logs.stop();
      await server.close();
      await group.shutdown();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
