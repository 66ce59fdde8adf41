/**
 * Trusted proxy headers over real HTTP, behind Debian's nginx (TLS in
 * front, plain HTTP to the gateway, the usual X-Forwarded-* headers), and
 * from a client that talks to the gateway directly and tries to spoof them.
 */

import assert from "node:assert/strict";
import { appPath, serveGroup } from "./helpers.ts";
import { startNginxProxy } from "./servers.ts";

const script = appPath("production_app.wsgi");
const headers = [
  "X-Forwarded-For",
  "X-Forwarded-Proto",
  "X-Forwarded-Host",
  "X-Forwarded-Port",
];

Deno.test("trusted proxy headers behind nginx, dropped from anyone else", async (t) => {
  const server = await serveGroup("proxy-headers", { processes: 0 }, [
    ["/", script, {
      trustedProxyHeaders: headers,
      // nginx connects from 127.0.0.2; the test's own client is 127.0.0.1.
      trustedProxies: ["127.0.0.2/32"],
    }],
  ]);
  const port = Number(new URL(server.base).port);
  const nginx = await startNginxProxy(port);
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(nginx.caFile!)],
  });
  try {
    await t.step(
      "through nginx: the client's address, https, host and port",
      async () => {
        const response = await fetch(
          `https://localhost:${nginx.port}/environ`,
          { client, headers: { "X-Forwarded-For": "6.6.6.6" } },
        );
        const environ = await response.json();
        // nginx appended the client's real address; 6.6.6.6 is made up.
        assert.equal(environ.REMOTE_ADDR, "127.0.0.1");
        assert.equal(environ.HTTP_X_FORWARDED_FOR, "127.0.0.1");
        assert.equal(environ["wsgi.url_scheme"], "https");
        assert.equal(environ.REQUEST_SCHEME, "https");
        assert.equal(environ.HTTPS, "1");
        assert.equal(environ.HTTP_HOST, "localhost");
        assert.equal(environ.SERVER_NAME, "localhost");
        assert.equal(environ.SERVER_PORT, String(nginx.port));
      },
    );
    await t.step("directly: spoofed headers are dropped", async () => {
      const response = await fetch(`${server.base}/environ`, {
        headers: {
          "X-Forwarded-For": "6.6.6.6",
          "X-Forwarded-Proto": "https",
          "X-Forwarded-Host": "evil.example",
          "X-Forwarded-Port": "443",
          // Another header for the client address is dropped too.
          "X-Real-IP": "6.6.6.7",
        },
      });
      const environ = await response.json();
      assert.equal(environ.REMOTE_ADDR, "127.0.0.1");
      assert.equal(environ["wsgi.url_scheme"], "http");
      assert.equal(environ.HTTPS, null);
      assert.equal(environ.HTTP_HOST, `127.0.0.1:${port}`);
      assert.equal(environ.SERVER_PORT, String(port));
      assert.equal(environ.HTTP_X_FORWARDED_FOR, null);
      assert.equal(environ.HTTP_X_FORWARDED_PROTO, null);
      assert.equal(environ.HTTP_X_FORWARDED_HOST, null);
      assert.equal(environ.HTTP_X_FORWARDED_PORT, null);
      assert.equal(environ.HTTP_X_REAL_IP, null);
    });
  } finally {
    client.close();
    await nginx.stop();
    await server.close();
  }
});
