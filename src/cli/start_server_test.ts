import assert from "node:assert/strict";
import { planStartServer } from "./start_server.ts";
import { UsageError } from "./usage.ts";

function siteOf(args: string[]) {
  const plan = planStartServer(args);
  assert.ok(!plan.help);
  return plan.site;
}

Deno.test("start-server: mod_wsgi-express's defaults", () => {
  const site = siteOf(["/srv/app.wsgi"]);
  assert.deepEqual(site.listeners, [{ hostname: "0.0.0.0", port: 8000 }]);
  assert.deepEqual(site.groups.default, {
    processes: 1,
    threads: 5,
    maximumRequests: 0,
    requestTimeout: 60,
    queueTimeout: 45,
    startupTimeout: 15,
    gracefulTimeout: 15,
    pythonPath: [],
    home: "/srv",
  });
  assert.deepEqual(site.mounts, [{
    prefix: "/",
    script: "/srv/app.wsgi",
    group: "default",
    callable: undefined,
    environ: {},
    limitRequestBody: 10485760,
    bodyTimeout: 15,
    bodyMinRate: 500,
    bodyBufferSize: 1048576,
  }]);
  assert.equal(site.logLevel, "warn");
  assert.equal(site.accessLog, undefined);
  assert.equal(site.serverStatus, undefined);
  assert.deepEqual(site.connections, {
    headerTimeout: 15,
    keepAliveTimeout: 2,
    socketTimeout: 60,
  });
  assert.equal(site.healthChecks, undefined);
});

Deno.test("start-server: connection limits and health checks", () => {
  const site = siteOf([
    "/srv/app.wsgi",
    ...["--header-timeout", "5", "--keep-alive-timeout", "0"],
    ...["--socket-timeout", "30.5", "--max-clients", "200"],
    ...["--ready-path", "/readyz", "--live-path", "/livez"],
  ]);
  assert.deepEqual(site.connections, {
    headerTimeout: 5,
    keepAliveTimeout: 0,
    socketTimeout: 30.5,
    maxClients: 200,
  });
  assert.deepEqual(site.healthChecks, { ready: "/readyz", live: "/livez" });
});

Deno.test("start-server: options map onto the site", () => {
  const site = siteOf([
    "/srv/app.wsgi",
    ...["--url-alias", "/static", "/srv/static", "--setenv", "A", "b c"],
    ...["--https-port", "8443", "--https-only"],
    ...[
      "--ssl-certificate-file",
      "/c.pem",
      "--ssl-certificate-key-file",
      "/k.pem",
    ],
    ...[
      "--access-log-format",
      "json",
      "--server-status",
      "--log-level",
      "notice",
    ],
    ...[
      "--trust-proxy-header",
      "X-Forwarded-For",
      "--trust-proxy",
      "10.0.0.0/8",
    ],
    ...["--limit-request-body", "0", "--processes", "0", "--threads", "1"],
    ...["--body-timeout", "2.5", "--body-min-rate", "0"],
    ...["--body-buffer-size", "4096", "--no-request-buffering"],
    ...["--restart-interval", "3600"],
  ]);
  assert.deepEqual(site.aliases, [{ urlPath: "/static", path: "/srv/static" }]);
  assert.deepEqual(site.mounts[0].environ, { A: "b c" });
  assert.deepEqual(site.listeners, [{
    hostname: "0.0.0.0",
    port: 8443,
    tls: { certFile: "/c.pem", keyFile: "/k.pem" },
  }]);
  assert.deepEqual(site.accessLog, { path: "-", format: "json" });
  assert.deepEqual(site.serverStatus, { path: "/server-status" });
  assert.equal(site.logLevel, "info");
  assert.deepEqual(site.mounts[0].trustedProxyHeaders, ["X-Forwarded-For"]);
  assert.deepEqual(site.mounts[0].trustedProxies, ["10.0.0.0/8"]);
  assert.equal(site.mounts[0].limitRequestBody, 0);
  assert.equal(site.mounts[0].bodyTimeout, 2.5);
  assert.equal(site.mounts[0].bodyMinRate, 0);
  assert.equal(site.mounts[0].bodyBufferSize, 4096);
  assert.equal(site.mounts[0].requestBuffering, false);
  assert.equal(site.groups.default.processes, 0);
  assert.equal(site.groups.default.restartInterval, 3600);
  const limited = siteOf(["/srv/app.wsgi", "--cpu-time-limit", "600"]);
  assert.equal(limited.groups.default.cpuTimeLimit, 600);
});

Deno.test("start-server: mistakes are UsageErrors naming the option", () => {
  for (
    const [args, pattern] of [
      [["a.wsgi", "--port", "70000"], /--port/],
      [["a.wsgi", "--request-timeout", "soon"], /--request-timeout/],
      [["a.wsgi", "--body-timeout", "soon"], /--body-timeout/],
      [["a.wsgi", "--restart-interval", "1h"], /--restart-interval/],
      [["a.wsgi", "--cpu-time-limit", "-1"], /--cpu-time-limit/],
      [
        ["a.wsgi", "--cpu-time-limit", "5", "--processes", "0"],
        /--cpu-time-limit needs workers/,
      ],
      [["a.wsgi", "--https-port", "1"], /--ssl-certificate-file/],
      [["a.wsgi", "--log-level", "loud"], /--log-level/],
      [["a.wsgi", "--mount-point", "app"], /--mount-point/],
      [["a.wsgi", "b.wsgi"], /one SCRIPT/],
      [["a.wsgi", "--header-timeout", "-1"], /--header-timeout/],
      [["a.wsgi", "--keep-alive-timeout", "x"], /--keep-alive-timeout/],
      [["a.wsgi", "--socket-timeout", "1e3"], /--socket-timeout/],
      [["a.wsgi", "--max-clients", "0"], /--max-clients must be 1/],
      [["a.wsgi", "--max-clients", "2.5"], /--max-clients/],
      [["a.wsgi", "--ready-path", "ready"], /--ready-path/],
    ] as const
  ) {
    assert.throws(() => planStartServer([...args]), (error: Error) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, pattern);
      return true;
    });
  }
});

Deno.test("start-server: the --snapshot-* flags set the group's snapshot option", () => {
  const snapshotOf = (...flags: string[]) =>
    siteOf(["/srv/app.wsgi", ...flags]).groups.default.snapshot;
  assert.equal(snapshotOf(), undefined, "the default stays the group's");
  assert.deepEqual(
    snapshotOf("--snapshot-folder", "/srv/snap", "--snapshot-read-only"),
    { folder: "/srv/snap", write: false },
  );
  assert.deepEqual(snapshotOf("--snapshot-script"), { script: true });
  assert.equal(snapshotOf("--no-snapshot"), false);
  for (
    const [flags, pattern] of [
      [
        ["--snapshot-read-only"],
        /--snapshot-read-only needs --snapshot-folder/,
      ],
      [["--no-snapshot", "--snapshot-script"], /--no-snapshot cannot be given/],
    ] as const
  ) {
    assert.throws(
      () => planStartServer(["/srv/app.wsgi", ...flags]),
      (error: Error) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, pattern);
        return true;
      },
    );
  }
});
