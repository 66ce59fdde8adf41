/**
 * Static aliases: HTTP semantics, security, and precedence over a WSGI
 * mount at "/" (requests they answer never reach Python).
 */

import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  alias,
  type AliasOptions,
  createRouter,
  defineGroup,
  mountWsgi,
} from "../mod.ts";
import { appPath, rawRequest, serve, type TestServer } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

const site = await Deno.makeTempDir({ prefix: "wsgi-site-" });
const outside = await Deno.makeTempDir({ prefix: "wsgi-outside-" });
await Deno.mkdir(`${site}/media/sub`, { recursive: true });
await Deno.mkdir(`${site}/media/bare`, { recursive: true });
await Deno.writeTextFile(`${site}/robots.txt`, "User-agent: *\nDisallow:\n");
await Deno.writeFile(`${site}/favicon.ico`, new Uint8Array([0, 0, 1, 0, 1, 0]));
await Deno.writeTextFile(`${site}/media/site.css`, "body { color: red; }\n");
await Deno.writeTextFile(
  `${site}/media/sub/index.html`,
  "<h1>sub index</h1>\n",
);
await Deno.writeTextFile(`${site}/media/bare/a <b>.txt`, "a\n");
await Deno.writeTextFile(`${site}/media/.secret`, "hidden\n");
await Deno.writeTextFile(`${site}/app-source.py`, "SECRET = 1\n");
await Deno.writeTextFile(`${outside}/passwd`, "root:x:0:0\n");
await Deno.symlink(`${outside}/passwd`, `${site}/media/escape.txt`);
await Deno.symlink(`${site}/media/site.css`, `${site}/media/inside-link.css`);
const big = new Uint8Array(1024 * 1024).map((_, i) => i % 251);
await Deno.writeFile(`${site}/media/big.bin`, big);

let server: TestServer;
let group: ReturnType<typeof defineGroup>;
let listingServer: TestServer;

async function served(): Promise<number> {
  return Number(await (await fetch(`${server.base}/served`)).text());
}

Deno.test({
  name: "aliases: set up a site with an app at / and aliases added after it",
  ...options,
  fn: async () => {
    group = defineGroup("aliases-site", { processes: 0 });
    const app = new Hono();
    // The mount comes first: the aliases must still win.
    mountWsgi(app, "/", appPath("conformance.wsgi"), { group });
    alias(app, "/robots.txt", `${site}/robots.txt`);
    alias(app, "/favicon.ico", `${site}/favicon.ico`);
    alias(app, "/media/", `${site}/media/`, { cacheControl: "max-age=60" });
    await group.ready();
    server = serve(app.fetch);
    const listing = createRouter();
    alias(listing, "/files/", `${site}/media/`, {
      listDirectories: true,
      dotfiles: true,
    });
    listingServer = serve(listing.fetch);
  },
});

Deno.test({
  name: "aliases: files are served natively and never reach Python",
  ...options,
  fn: async () => {
    const before = await served();
    const robots = await fetch(`${server.base}/robots.txt`);
    assert.equal(robots.status, 200);
    assert.equal(await robots.text(), "User-agent: *\nDisallow:\n");
    assert.match(robots.headers.get("content-type")!, /^text\/plain/);
    const icon = await fetch(`${server.base}/favicon.ico`);
    assert.equal(icon.status, 200);
    assert.equal((await icon.arrayBuffer()).byteLength, 6);
    assert.equal(icon.headers.get("content-type"), "image/vnd.microsoft.icon");
    const css = await fetch(`${server.base}/media/site.css`);
    assert.equal(await css.text(), "body { color: red; }\n");
    assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
    assert.equal(css.headers.get("cache-control"), "max-age=60");
    assert.equal(css.headers.get("accept-ranges"), "bytes");
    assert.equal(css.headers.get("content-length"), "21");
    assert.ok(css.headers.get("etag"));
    assert.ok(css.headers.get("last-modified"));
    // The Python app counted none of these; its own count request is +1.
    assert.equal(await served(), before + 1);
    const python = await fetch(`${server.base}/app-source.py`);
    assert.equal(
      await python.text(),
      "path /app-source.py",
      "the app, not the file",
    );
    const mediax = await fetch(`${server.base}/mediax/site.css`);
    assert.equal(await mediax.text(), "path /mediax/site.css");
  },
});

Deno.test({
  name: "aliases: a 1 MiB file streams whole and ranges give 206 and 416",
  ...options,
  fn: async () => {
    const whole = new Uint8Array(
      await (await fetch(`${server.base}/media/big.bin`)).arrayBuffer(),
    );
    assert.deepEqual(whole, big);
    const part = await fetch(`${server.base}/media/big.bin`, {
      headers: { range: "bytes=100-199" },
    });
    assert.equal(part.status, 206);
    assert.equal(
      part.headers.get("content-range"),
      `bytes 100-199/${big.length}`,
    );
    assert.deepEqual(
      new Uint8Array(await part.arrayBuffer()),
      big.subarray(100, 200),
    );
    const tail = await fetch(`${server.base}/media/big.bin`, {
      headers: { range: "bytes=-10" },
    });
    assert.deepEqual(
      new Uint8Array(await tail.arrayBuffer()),
      big.subarray(big.length - 10),
    );
    const beyond = await fetch(`${server.base}/media/big.bin`, {
      headers: { range: "bytes=2000000-" },
    });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get("content-range"), `bytes */${big.length}`);
    await beyond.body?.cancel();
    const several = await fetch(`${server.base}/media/big.bin`, {
      headers: { range: "bytes=0-1,5-6" },
    });
    assert.equal(several.status, 200, "several ranges: the whole file");
    assert.equal((await several.arrayBuffer()).byteLength, big.length);
  },
});

Deno.test({
  name: "aliases: If-Range, 304 on If-None-Match and If-Modified-Since, HEAD",
  ...options,
  fn: async () => {
    const first = await fetch(`${server.base}/media/big.bin`, {
      method: "HEAD",
    });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("content-length"), String(big.length));
    assert.equal((await first.arrayBuffer()).byteLength, 0);
    const tag = first.headers.get("etag")!;
    const modified = first.headers.get("last-modified")!;
    const notModified = await fetch(`${server.base}/media/big.bin`, {
      headers: { "if-none-match": tag },
    });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get("etag"), tag);
    await notModified.body?.cancel();
    const since = await fetch(`${server.base}/media/big.bin`, {
      headers: { "if-modified-since": modified },
    });
    assert.equal(since.status, 304);
    await since.body?.cancel();
    const changed = await fetch(`${server.base}/media/big.bin`, {
      headers: { "if-none-match": '"other"' },
    });
    assert.equal(changed.status, 200);
    await changed.body?.cancel();
    const rangeOk = await fetch(`${server.base}/media/big.bin`, {
      headers: { range: "bytes=0-9", "if-range": tag },
    });
    assert.equal(rangeOk.status, 206);
    await rangeOk.body?.cancel();
    const rangeStale = await fetch(`${server.base}/media/big.bin`, {
      headers: { range: "bytes=0-9", "if-range": '"stale"' },
    });
    assert.equal(rangeStale.status, 200);
    await rangeStale.body?.cancel();
    const post = await fetch(`${server.base}/media/site.css`, {
      method: "POST",
      body: "x",
    });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  },
});

Deno.test({
  name:
    "aliases: folders give their index, a slash redirect, and 403 without one",
  ...options,
  fn: async () => {
    const index = await fetch(`${server.base}/media/sub/`);
    assert.equal(await index.text(), "<h1>sub index</h1>\n");
    assert.match(index.headers.get("content-type")!, /^text\/html/);
    const redirect = await fetch(`${server.base}/media/sub?x=1`, {
      redirect: "manual",
    });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get("location"), "/media/sub/?x=1");
    await redirect.body?.cancel();
    const bare = await fetch(`${server.base}/media/bare/`);
    assert.equal(bare.status, 403, "listings are off by default");
    await bare.body?.cancel();
    const listed = await fetch(`${listingServer.base}/files/bare/`);
    const html = await listed.text();
    assert.match(html, /a &#60;b&#62;\.txt/, "names are HTML-escaped");
    assert.ok(!html.includes("<b>"));
  },
});

Deno.test({
  name: "aliases: no way out of the root",
  ...options,
  fn: async () => {
    const attempts = [
      "/media/../app-source.py",
      "/media/%2e%2e/app-source.py",
      "/media/%2E%2E/%2e%2e/etc/passwd",
      "/media/..%2fapp-source.py",
      "/media/..%5capp-source.py",
      "/media/%5c..%5capp-source.py",
      "/media/site.css%00.txt",
      "/media/escape.txt",
    ];
    for (const path of attempts) {
      const response = await rawRequest(server.port, `GET ${path} HTTP/1.1`);
      const body = new TextDecoder().decode(response.body);
      assert.ok(!body.includes("SECRET"), `${path} leaked the app source`);
      assert.ok(
        !body.includes("root:x"),
        `${path} leaked a file outside the root`,
      );
      assert.ok(
        response.status >= 400 || body.startsWith("path /"),
        `${path}: ${response.status} ${body}`,
      );
    }
    const inside = await fetch(`${server.base}/media/inside-link.css`);
    assert.equal(
      await inside.text(),
      "body { color: red; }\n",
      "symlinks inside the root work",
    );
    const dotfile = await fetch(`${server.base}/media/.secret`);
    assert.equal(dotfile.status, 404);
    await dotfile.body?.cancel();
    const allowed = await fetch(`${listingServer.base}/files/.secret`);
    assert.equal(
      await allowed.text(),
      "hidden\n",
      "dotfiles: true serves them",
    );
  },
});

Deno.test({
  name: "aliases: bad arguments fail with a message naming them",
  ...options,
  fn: () => {
    const router = createRouter();
    assert.throws(() => alias(router, "media/", site), /must start with "\/"/);
    assert.throws(
      () => alias(router, "/x", `${site}/missing`),
      /cannot be read/,
    );
    assert.throws(
      () => alias(router, "/x/", `${site}/robots.txt`),
      /needs a folder/,
    );
    assert.throws(
      () => alias(router, "/x", site, { cacheControl: "a\r\nb" }),
      /option "cacheControl"/,
    );
    assert.throws(
      () => alias(router, "/x", site, { colour: 1 } as unknown as AliasOptions),
      /unknown option "colour"/,
    );
  },
});

Deno.test({
  name: "aliases: clean up",
  ...options,
  fn: async () => {
    await server.close();
    await listingServer.close();
    await group.shutdown();
    await Deno.remove(site, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  },
});
