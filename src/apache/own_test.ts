/**
 * tests/apache/own/full.conf uses every directive from-apache reads, in
 * the places Apache allows them: the SiteConfig and every warning.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";
import { siteFromApache } from "./to_site.ts";

const base = fileURLToPath(new URL("../../tests/apache/", import.meta.url));
const own = (path: string) => join(base, "own", path);
const www = (path: string) => join(base, "www", path);

Deno.test("own configuration: every directive, merged per script as mod_wsgi does", () => {
  const site = siteFromApache(own("full.conf"), { env: () => undefined });
  const pyenv = www("pyApps/pyenv");
  const trusted = {
    trustedProxyHeaders: ["X-Forwarded-For", "X-Forwarded-Proto"],
    trustedProxies: ["10.0.0.0/8", "192.168.1.1"],
  };
  assert.deepEqual(site.listeners, [
    { hostname: "127.0.0.1", port: 8081 },
    {
      hostname: "::1",
      port: 8443,
      tls: { certFile: own("tls/cert.pem"), keyFile: own("tls/key.pem") },
    },
  ]);
  assert.deepEqual(site.groups, {
    shop: {
      processes: 3,
      threads: 4,
      pythonHome: pyenv,
      // python-path=, then the folder of the WSGIImportScript module.
      pythonPath: [www("lib"), www("lib2"), www("")].map((p) =>
        p.replace(/\/$/, "")
      ),
      home: www("").replace(/\/$/, ""),
      maximumRequests: 500,
      requestTimeout: 30,
      queueTimeout: 10,
      startupTimeout: 20,
      inactivityTimeout: 300,
      restartInterval: 3600,
      cpuTimeLimit: 600,
      gracefulTimeout: 5,
      queueLimit: 50,
      env: { LANG: "de_DE.UTF-8", LC_ALL: "de_DE.UTF-8" },
      preload: ["preload_me"],
    },
    // WSGIPythonHome is where daemon processes' Python starts from too.
    secure: { threads: 2, pythonHome: pyenv },
    // WSGIPythonPath is for embedded mode: the default group here.
    default: {
      pythonHome: pyenv,
      pythonPath: [www("lib one"), www("lib-two")],
    },
  });
  assert.deepEqual(site.mounts, [
    {
      prefix: "/embedded",
      script: www("yourapplication/yourapplication.wsgi"),
      limitRequestBody: 1048576,
    },
    {
      // WSGIScriptAlias options win over the directory and location.
      prefix: "/shop",
      script: www("echo.wsgi"),
      group: "shop",
      applicationGroup: "%{GLOBAL}",
      callable: "application",
      passAuthorization: true,
      reload: false,
      environ: { STAGE: "testing", MYTEST: "from the location" },
      limitRequestBody: 2048,
      ...trusted,
    },
    {
      prefix: "/server-group",
      script: www("app/site.wsgi"),
      group: "shop",
      applicationGroup: "shop.example:8081",
      reload: false,
      environ: { STAGE: "testing", MYTEST: "from the vhost" },
      limitRequestBody: 1048576,
      ...trusted,
    },
    {
      prefix: "/legacy",
      script: www("sample-app/application.py"),
      applicationGroup: "shop.example:8081",
      reload: false,
      environ: { STAGE: "testing", MYTEST: "from the vhost" },
      limitRequestBody: 1048576,
      ...trusted,
    },
    {
      prefix: "/secure",
      script: www("wsgi-scripts/myapp.wsgi"),
      group: "secure",
      applicationGroup: "named",
      callable: "app",
      limitRequestBody: 1048576,
    },
  ]);
  assert.deepEqual(site.aliases, [
    {
      urlPath: "/static/",
      path: www("documents/media"),
      options: { listDirectories: true },
    },
    { urlPath: "/files/", path: www("documents") },
  ]);
  assert.deepEqual(site.serverStatus, {
    path: "/server-status",
    allow: ["127.0.0.1", "10.1.0.0/16"],
  });
  assert.equal(site.errorLog, own("logs/error.log"));
  assert.equal(site.logLevel, "debug");
  assert.deepEqual(site.accessLog, {
    path: own("logs/access.log"),
    format: "combined",
  });
  assert.deepEqual(site.connections, {
    socketTimeout: 30,
    keepAliveTimeout: 1.5,
    headerTimeout: 10,
    maxClients: 64,
  });
  // "line directive", after the file's name when it is not full.conf.
  const file = own("full.conf");
  assert.deepEqual(
    site.warnings.map((w) =>
      `${
        w.file === file ? "" : `${relative(own("."), w.file)}:`
      }${w.line} ${w.directive}`
    ),
    [
      "34 <IfModule mod_rewrite.c>",
      "6 User",
      "7 Group",
      "24 WSGIDaemonProcess display-name=",
      "24 WSGIDaemonProcess user=",
      "24 WSGIDaemonProcess group=",
      "24 WSGIDaemonProcess umask=",
      "24 WSGIDaemonProcess bogus-option=",
      "53 WSGIScriptAliasMatch",
      "56 AliasMatch",
      "87 SSLProtocol",
      "96 Header",
      "97 <Files *.py>",
      "106 RequestReadTimeout header=",
      "conf.d/embedded.conf:3 Require all denied",
      "94 WSGIChunkedRequest Off",
      "75 Require ip 10.0.0.0/8",
      "18 CustomLog",
      "83 <VirtualHost>",
    ],
  );
  const reasons = Object.fromEntries(
    site.warnings.map((w) => [`${w.line} ${w.directive}`, w.reason]),
  );
  assert.match(reasons["3 Require all denied"], /Apache answers 403/);
  assert.match(
    reasons["75 Require ip 10.0.0.0/8"],
    /part of the mount at \/shop/,
  );
  assert.match(
    reasons["83 <VirtualHost>"],
    /every mount and alias is served on every listener/,
  );
});

Deno.test("RequestReadTimeout body= is every mount's bodyTimeout and bodyMinRate", () => {
  const site = siteFromApache(own("reqtimeout.conf"), { env: () => undefined });
  assert.deepEqual(site.mounts, [{
    prefix: "/app",
    script: www("echo.wsgi"),
    bodyTimeout: 20,
    bodyMinRate: 400,
  }]);
  assert.deepEqual(
    site.warnings.map((w) => [w.line, w.directive]),
    [[5, "RequestReadTimeout header="], [5, "RequestReadTimeout body="]],
  );
  assert.match(site.warnings[1].reason, /maximum \(60 s\) is not honoured/);
});
