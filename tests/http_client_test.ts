/**
 * Outgoing HTTP and HTTPS from Python through the gateway: urllib.request,
 * http.client and requests against a loopback HTTP server, HTTPS against a
 * loopback server whose certificate a test CA signed (verification must
 * fail without that CA and succeed with it), and the errors a client must
 * see: a refused connection, a name that does not resolve, and a server
 * that accepts but never answers. Every check goes through
 * tests/apps/net_http_client.wsgi over real HTTP, in a Web Worker, a child
 * process and embedded. The servers (tests/servers.ts) start once.
 */

import assert from "node:assert/strict";
import { dirname } from "node:path";
import { appPath } from "./helpers.ts";
import {
  type AppServer,
  type Mode,
  modes,
  okJson,
  serveApp,
  UNICODE_TEXT,
} from "./net_modes.ts";
import { ensurePythonPackages } from "./python_packages.ts";
import {
  freePort,
  type HttpServer,
  type StartedServer,
  startHttpServer,
  startSilentServer,
  startTlsServer,
} from "./servers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("net_http_client.wsgi");

interface Targets {
  http: HttpServer;
  https: HttpServer;
  silent: StartedServer;
  /** A loopback port nothing listens on. */
  closedPort: number;
}

/** What the app reports about one attempt (see _attempt in the app). */
interface Attempt {
  ok: boolean;
  value?: unknown;
  error?: Described;
  seconds: number;
}

interface Described {
  type: string;
  bases: string[];
  errno: number | null;
  errno_name: string | null;
  message: string;
  reason: Described | null;
  cause: Described | null;
}

/** Whether the error, the reason it wraps or its cause is a `name`. */
function isA(error: Described | null | undefined, name: string): boolean {
  if (!error) return false;
  return error.bases.includes(name) || isA(error.reason, name) ||
    isA(error.cause, name);
}

/** Fails unless the attempt failed with a `name` somewhere in its chain. */
function assertFailedWith(attempt: Attempt, name: string, what: string) {
  assert.equal(
    attempt.ok,
    false,
    `${what} should have failed with ${name}, got ${
      JSON.stringify(attempt.value)
    }`,
  );
  assert.ok(
    isA(attempt.error, name),
    `${what} failed, but not with ${name}: ${JSON.stringify(attempt.error)}`,
  );
}

function query(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

/** The checks every mode runs, one step each. */
async function checkEveryClient(
  t: Deno.TestContext,
  base: string,
  targets: Targets,
): Promise<void> {
  const http = targets.http.url;
  const https = targets.https.url;

  await t.step("urllib.request GET", async () => {
    const result = await okJson(
      `${base}/urllib?${query({ url: `${http}/hello` })}`,
    );
    assert.equal(result.status, 200);
    assert.equal(result.body, "hello from the loopback server");
  });

  await t.step(
    "http.client: unicode, then a POST on the same connection",
    async () => {
      const result = await okJson(
        `${base}/http_client?${query({ url: http })}`,
      );
      assert.equal(result.status, 200);
      assert.equal(result.content_type, "text/plain; charset=utf-8");
      assert.equal(result.unicode, UNICODE_TEXT);
      assert.equal(result.echo.method, "POST");
      assert.equal(result.echo.query, "via=http.client");
      assert.equal(result.echo.headers["x-test"], "http.client");
      assert.deepEqual(JSON.parse(result.echo.body), { text: UNICODE_TEXT });
    },
  );

  await t.step("requests: redirects, statuses, unicode, JSON", async () => {
    const result = await okJson(`${base}/requests?${query({ url: http })}`);
    assert.equal(result.hello, "hello from the loopback server");
    assert.deepEqual(result.redirected, {
      status: 200,
      history: [302],
      body: "hello from the loopback server",
    });
    assert.equal(result.missing, 404);
    assert.equal(result.unicode, UNICODE_TEXT);
    assert.equal(result.echo.method, "POST");
    assert.match(result.echo.headers["user-agent"], /^python-requests\//);
    assert.deepEqual(JSON.parse(result.echo.body), {
      text: UNICODE_TEXT,
      n: 3,
    });
  });

  await t.step("HTTPS: verified with the test CA only", async () => {
    const attempt = (how: string): Promise<Attempt> =>
      okJson(
        `${base}/https?${
          query({ url: `${https}/hello`, ca: targets.https.caFile!, how })
        }`,
      );
    // Every way is tried before anything is asserted, so that a failure
    // lists all the ways that went wrong.
    const problems: string[] = [];
    const expectFailure = async (how: string, name: string) => {
      try {
        assertFailedWith(await attempt(how), name, `HTTPS with ${how}`);
      } catch (error) {
        problems.push((error as Error).message);
      }
    };
    await expectFailure("default", "SSLCertVerificationError");
    await expectFailure("requests-default", "SSLError");
    for (const how of ["cafile", "env", "requests-verify"]) {
      const result = await attempt(how);
      if (!result.ok || result.value !== "hello from the loopback server") {
        problems.push(
          `HTTPS with ${how} should succeed: ${
            JSON.stringify(result.error ?? result.value)
          }`,
        );
      }
    }
    assert.deepEqual(problems, []);
  });

  await t.step("a closed port: ConnectionRefusedError", async () => {
    const url = `http://127.0.0.1:${targets.closedPort}/`;
    const result = await okJson(
      `${base}/error?${query({ kind: "refused", url })}`,
    );
    assertFailedWith(result.socket, "ConnectionRefusedError", "socket");
    assert.equal(result.socket.error.errno_name, "ECONNREFUSED");
    assertFailedWith(result.urllib, "ConnectionRefusedError", "urllib");
    assertFailedWith(result.requests, "ConnectionError", "requests");
  });

  await t.step("a name that does not resolve: socket.gaierror", async () => {
    const url = "http://nonexistent.invalid/";
    const result = await okJson(`${base}/error?${query({ kind: "dns", url })}`);
    assertFailedWith(result.getaddrinfo, "gaierror", "getaddrinfo");
    assertFailedWith(result.socket, "gaierror", "socket.create_connection");
    assertFailedWith(result.urllib, "gaierror", "urllib");
    assertFailedWith(result.requests, "ConnectionError", "requests");
  });

  await t.step("a server that never answers: a read timeout", async () => {
    const url = `http://127.0.0.1:${targets.silent.port}/`;
    const result = await okJson(
      `${base}/error?${query({ kind: "timeout", url })}`,
    );
    const problems: string[] = [];
    const expected = [
      ["socket", "TimeoutError"],
      ["urllib", "TimeoutError"],
      ["requests", "ReadTimeout"],
    ];
    for (const [client, name] of expected) {
      const attempt: Attempt = result[client];
      try {
        assertFailedWith(attempt, name, client);
        // Each client was given 1 s to read.
        assert.ok(
          attempt.seconds >= 0.9 && attempt.seconds < 5,
          `${client} gave up after ${attempt.seconds} s, not about 1 s`,
        );
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    assert.deepEqual(problems, []);
  });
}

async function inMode(
  t: Deno.TestContext,
  mode: Mode,
  targets: Targets,
  sitePackages: string,
): Promise<void> {
  const groupName = `net-http-${mode.name.replace(/\W+/g, "-").toLowerCase()}`;
  let server: AppServer | undefined;
  try {
    // Python sees only the folders a group names: the test CA's folder
    // is the app's home, as an app's own CA bundle would be.
    server = await serveApp(groupName, mode, app, {}, [sitePackages], {
      home: dirname(targets.https.caFile!),
    });
    await checkEveryClient(t, server.base, targets);
  } finally {
    await server?.close();
  }
  if (mode.hostPythonPath) return; // allowNet is the gateway's
  await t.step("allowNet: the listed host only", async () => {
    const allowed = `127.0.0.1:${targets.http.port}`;
    const limited = await serveApp(
      `${groupName}-allow-net`,
      mode,
      app,
      {},
      [sitePackages],
      { allowNet: [allowed] },
    );
    try {
      const hello = await okJson(
        `${limited.base}/urllib?${query({ url: `${targets.http.url}/hello` })}`,
      );
      assert.equal(hello.body, "hello from the loopback server");
      // The TLS server listens, but is not listed.
      const url = `http://127.0.0.1:${targets.https.port}/`;
      const result = await okJson(
        `${limited.base}/error?${query({ kind: "refused", url })}`,
      );
      assertFailedWith(result.socket, "PermissionError", "socket");
      assert.match(result.socket.error.message, /allowNet/);
      assert.match(result.socket.error.message, new RegExp(allowed));
      assertFailedWith(result.urllib, "PermissionError", "urllib");
      assertFailedWith(result.requests, "ConnectionError", "requests");
    } finally {
      await limited.close();
    }
  });
}

Deno.test({
  name: "HTTP clients in Python through the gateway",
  ...options,
  fn: async (t) => {
    const sitePackages = await ensurePythonPackages();
    const started = await Promise.allSettled([
      startHttpServer(),
      startTlsServer(),
      startSilentServer(),
    ]);
    const stopAll = () =>
      Promise.all(
        started.map((s) => s.status === "fulfilled" ? s.value.stop() : null),
      );
    const failures = started.filter((s) => s.status === "rejected");
    if (failures.length) {
      await stopAll();
      throw new AggregateError(
        failures.map((f) => (f as PromiseRejectedResult).reason),
        "a loopback server did not start",
      );
    }
    const [http, https, silent] = started.map((s) =>
      (s as PromiseFulfilledResult<HttpServer>).value
    );
    const targets: Targets = { http, https, silent, closedPort: freePort() };
    try {
      for (const mode of modes()) {
        await t.step(mode.name, (t) => inMode(t, mode, targets, sitePackages));
      }
    } finally {
      await stopAll();
    }
  },
});
