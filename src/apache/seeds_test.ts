/**
 * Every Apache configuration of the seeds (tests/apache/seeds, the
 * directives as the seeds have them, paths pointing at tests/apache/www)
 * and one of our own that uses every directive (tests/apache/own), read
 * into a SiteConfig: the whole config and every warning are asserted.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { SiteConfig } from "../site.ts";
import { siteFromApache } from "./to_site.ts";

const base = fileURLToPath(new URL("../../tests/apache/", import.meta.url));
const at = (path: string) => join(base, path);
const www = (path: string) => at(`www/${path}`);
const USER_GROUP =
  "restrict what Python may touch with the group's writable, allowNet and isolation/permissions options";
const PORT_80 = {
  directive: "Listen",
  line: 0,
  reason:
    "no Listen and no <VirtualHost> port: listening on port 80 of every address, as Apache's stock httpd.conf does",
};
const ANY_80 = [{ hostname: "0.0.0.0", port: 80 }];

function read(path: string): SiteConfig {
  return siteFromApache(at(path), { env: () => undefined });
}

/** Warnings as [file relative to tests/apache, line, directive]. */
function warned(site: SiteConfig): [string, number, string][] {
  return site.warnings.map((
    w,
  ) => [w.file.slice(base.length), w.line, w.directive]);
}

/**
 * The site's one group is mod_wsgi's documented daemon, 2 processes of 15
 * threads, and serves the script at "/".
 */
function assertDaemonAtRoot(site: SiteConfig, group: string, script: string) {
  assert.deepEqual(site.groups, { [group]: { processes: 2, threads: 15 } });
  assert.deepEqual(site.mounts, [{ prefix: "/", script: www(script), group }]);
}

/** The three aliases of the mod_wsgi documentation's examples. */
const DOCUMENTS = [
  { urlPath: "/robots.txt", path: www("documents/robots.txt") },
  { urlPath: "/favicon.ico", path: www("documents/favicon.ico") },
  { urlPath: "/media/", path: www("documents/media") },
];

/** Seeds read without a warning: the whole SiteConfig, by file. */
const WHOLE: [string, string, SiteConfig][] = [
  [
    "host-a-python-wsgi-app-macos.md, Include from ServerRoot, Listen, SetEnv, WSGIPythonPath",
    "seeds/macos/httpd.conf",
    {
      listeners: [{ hostname: "0.0.0.0", port: 8088 }],
      groups: {
        default: {
          pythonPath: ["/path/to/my-app/venv/lib/python2.7/site-packages"],
        },
      },
      mounts: [{
        prefix: "/",
        script: www("sample-app/application.py"),
        environ: { MYTEST: "abc" },
      }],
      aliases: [],
      warnings: [],
    },
  ],
  [
    "mod-wsgi-notes, embedded mode with aliases and LogLevel info",
    "seeds/notes-embedded.conf",
    {
      listeners: ANY_80,
      groups: {},
      mounts: [{ prefix: "/", script: www("app/site.wsgi") }],
      aliases: DOCUMENTS,
      warnings: [],
      logLevel: "info",
    },
  ],
  [
    "quick configuration guide, mounted at the root with aliases",
    "seeds/quick-root.conf",
    {
      listeners: ANY_80,
      groups: {},
      mounts: [{ prefix: "/", script: www("wsgi-scripts/myapp.wsgi") }],
      aliases: DOCUMENTS,
      warnings: [],
    },
  ],
];

for (const [name, path, expected] of WHOLE) {
  Deno.test(`seeds: ${name}`, () => {
    assert.deepEqual(read(path), expected);
  });
}

Deno.test("seeds: flask-deploying-mod-wsgi.rst, daemon process with user= and group=", () => {
  const site = read("seeds/flask.conf");
  assert.deepEqual(site.listeners, ANY_80);
  assert.deepEqual(site.groups, { yourapplication: { threads: 5 } });
  assert.deepEqual(site.mounts, [{
    prefix: "/",
    script: www("yourapplication/yourapplication.wsgi"),
    group: "yourapplication",
    applicationGroup: "%{GLOBAL}",
  }]);
  assert.deepEqual(site.aliases, []);
  assert.deepEqual(warned(site), [
    ["seeds/flask.conf", 5, "WSGIDaemonProcess user="],
    ["seeds/flask.conf", 5, "WSGIDaemonProcess group="],
    ["seeds/flask.conf", 0, "Listen"],
  ]);
  assert.match(site.warnings[0].reason, new RegExp(USER_GROUP));
  assert.equal(site.warnings[2].reason, PORT_80.reason);
});

Deno.test("seeds: flask-deploying-mod-wsgi.rst, the Windows variant keeps its backslashes", () => {
  const site = read("seeds/flask-windows.conf");
  assert.deepEqual(site.mounts, [{
    prefix: "/",
    script: at("seeds/C:\\yourdir\\yourapp.wsgi"),
  }]);
  assert.deepEqual(site.groups, {});
  assert.deepEqual(warned(site), [["seeds/flask-windows.conf", 0, "Listen"]]);
});

Deno.test("seeds: flask-deploying-mod-wsgi.rst, 2.2 and 2.4 access control, WSGIRestrictStdout, WSGIScriptReloading", () => {
  const site = read("seeds/flask-access.conf");
  assert.deepEqual(site.mounts, [
    {
      prefix: "/two-two",
      script: www("yourapplication/yourapplication.wsgi"),
      reload: true,
    },
    { prefix: "/two-four", script: www("wsgi-scripts/myapp.wsgi") },
  ]);
  // "Order allow,deny / Allow from all" and "Require all granted" are quiet.
  assert.deepEqual(warned(site), [["seeds/flask-access.conf", 0, "Listen"]]);
});

Deno.test("seeds: host-a-python-wsgi-app-macos.md, the real app over HTTPS with its included snippets", () => {
  const site = read("seeds/macos/httpd-real.conf");
  assert.deepEqual(site.listeners, [{
    hostname: "0.0.0.0",
    port: 443,
    tls: {
      certFile: "/path/to/my-cert/server.crt",
      keyFile: "/path/to/my-cert/server.key",
    },
  }]);
  // "WSGIPAssAuthorization On": directive names are case-insensitive.
  assert.deepEqual(site.mounts, [{
    prefix: "/",
    script: www("sample-app/application.py"),
    passAuthorization: true,
    environ: { MYTEST: "abc" },
  }]);
  assert.deepEqual(warned(site), [
    ["seeds/macos/etc/apache2/ssl_rewrite.conf", 1, "RewriteEngine"],
    ["seeds/macos/etc/apache2/ssl_rewrite.conf", 2, "RewriteCond"],
    ["seeds/macos/etc/apache2/ssl_rewrite.conf", 3, "RewriteRule"],
    ["seeds/macos/etc/apache2/ssl.conf", 4, "SSLCACertificateFile"],
  ]);
  assert.match(site.warnings[0].reason, /mod_rewrite is not emulated/);
});

Deno.test("seeds: mod-wsgi-notes, daemon process with display-name", () => {
  const site = read("seeds/notes-daemon.conf");
  assertDaemonAtRoot(site, "app.synergysystems.co.za", "app/site.wsgi");
  // DocumentRoot is hidden by the mount at "/": accepted quietly.
  assert.deepEqual(site.aliases, []);
  assert.deepEqual(warned(site), [
    ["seeds/notes-daemon.conf", 8, "WSGIDaemonProcess display-name="],
  ]);
});

Deno.test("seeds: quick configuration guide, /myapp beside the DocumentRoot", () => {
  const site = read("seeds/quick-myapp.conf");
  assert.deepEqual(site.mounts, [{
    prefix: "/myapp",
    script: www("wsgi-scripts/myapp.wsgi"),
  }]);
  // Apache serves the DocumentRoot wherever no mount claims the URL.
  assert.deepEqual(site.aliases, [{ urlPath: "/", path: www("documents") }]);
  assert.deepEqual(site.warnings, []);
});

Deno.test("seeds: a WSGIScriptAlias onto a folder of scripts is warned, not mounted", () => {
  const site = read("own/folder-alias.conf");
  assert.deepEqual(site.mounts, []);
  assert.deepEqual(warned(site), [
    ["own/folder-alias.conf", 1, "WSGIScriptAlias"],
    ["own/folder-alias.conf", 2, "WSGIScriptAlias"],
    ["own/folder-alias.conf", 0, "Listen"],
  ]);
});

Deno.test("seeds: quick configuration guide, daemon mode with aliases", () => {
  const site = read("seeds/quick-daemon.conf");
  assertDaemonAtRoot(site, "example.com", "wsgi-scripts/myapp.wsgi");
  assert.deepEqual(site.aliases.map((a) => a.urlPath), [
    "/robots.txt",
    "/favicon.ico",
    "/media/",
  ]);
  assert.equal(site.logLevel, "info");
  assert.deepEqual(warned(site), [
    ["seeds/quick-daemon.conf", 20, "WSGIDaemonProcess display-name="],
  ]);
});

Deno.test("seeds: wsgi-anwendungen (German), IncludeOptional sites, IfModule mod_wsgi.c, continuations, WSGIPythonHome", () => {
  const site = read("seeds/de/apache2.conf");
  assert.deepEqual(site, {
    listeners: [{ hostname: "0.0.0.0", port: 80 }],
    groups: {
      pyApps: {
        processes: 2,
        threads: 5,
        maximumRequests: 5,
        pythonHome: www("pyApps/pyenv"),
      },
    },
    mounts: [{
      prefix: "/hello.py",
      script: www("pyApps/helloWorld/index.wsgi"),
      group: "pyApps",
      applicationGroup: "%{GLOBAL}",
    }],
    aliases: [],
    warnings: site.warnings,
  });
  assert.deepEqual(warned(site), [
    ["seeds/de/sites-enabled/py-apps.conf", 7, "WSGIDaemonProcess user="],
    ["seeds/de/sites-enabled/py-apps.conf", 7, "WSGIDaemonProcess group="],
  ]);
});
