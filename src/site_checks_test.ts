import assert from "node:assert/strict";
import { checkSite } from "./site_checks.ts";
import type { SiteConfig } from "./site.ts";

const good: SiteConfig = {
  listeners: [{ hostname: "127.0.0.1", port: 8000 }],
  groups: { web: {} },
  mounts: [{ prefix: "/", script: "/srv/app.wsgi", group: "web" }],
  aliases: [{ urlPath: "/static/", path: "/srv/static/" }],
  warnings: [],
};

Deno.test("checkSite: a good site passes", () => {
  checkSite(good);
  checkSite({ ...good, mounts: [{ prefix: "/", script: "/a.wsgi" }] });
});

Deno.test("checkSite: a bad field throws, naming it", () => {
  const cases: [unknown, RegExp, typeof TypeError | typeof RangeError][] = [
    [{ ...good, listeners: [] }, /site\.listeners/, RangeError],
    [
      { ...good, listeners: [{ hostname: "x", port: 70000 }] },
      /site\.listeners\[0\]\.port/,
      RangeError,
    ],
    [
      { ...good, listeners: [{ hostname: "x", port: "80" }] },
      /site\.listeners\[0\]\.port/,
      TypeError,
    ],
    [
      {
        ...good,
        listeners: [{ hostname: "x", port: 1, tls: { certFile: "c" } }],
      },
      /site\.listeners\[0\]\.tls\.keyFile/,
      TypeError,
    ],
    [
      { ...good, mounts: [{ prefix: "app", script: "/a.wsgi" }] },
      /site\.mounts\[0\]\.prefix/,
      TypeError,
    ],
    [
      { ...good, mounts: [{ prefix: "/", script: "/a.wsgi", group: "nope" }] },
      /site\.mounts\[0\]\.group names "nope"/,
      TypeError,
    ],
    [
      { ...good, aliases: [{ urlPath: "/x" }] },
      /site\.aliases\[0\]\.path/,
      TypeError,
    ],
    [
      { ...good, accessLog: { path: "-", format: "common" } },
      /site\.accessLog\.format/,
      TypeError,
    ],
    [{ ...good, logLevel: "loud" }, /site\.logLevel/, TypeError],
    [
      { ...good, serverStatus: { path: "/s", allow: [1] } },
      /site\.serverStatus\.allow\[0\]/,
      TypeError,
    ],
  ];
  for (const [site, pattern, kind] of cases) {
    assert.throws(() => checkSite(site as SiteConfig), (error: Error) => {
      assert.ok(error instanceof kind, `${error.name}: ${error.message}`);
      assert.match(error.message, pattern);
      return true;
    });
  }
});
