/**
 * HTTPS from a certificate and key (Deno.serve's cert/key) and
 * SERVER_PROTOCOL telling the truth: curl over HTTP/2 and HTTP/1.1 with
 * TLS, and HTTP/2 without TLS (prior knowledge).
 */

import assert from "node:assert/strict";
import { createRouter, defineGroup, mountWsgi, withAccessLog } from "../mod.ts";
import { appPath } from "./helpers.ts";
import { makeCertificates } from "./servers.ts";

const script = appPath("production_app.wsgi");

async function curl(
  args: string[],
): Promise<{ version: string; body: string }> {
  const output = await new Deno.Command("curl", {
    args: [
      "--silent",
      "--show-error",
      "--max-time",
      "20",
      "--write-out",
      "\n%{http_version}",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const split = text.lastIndexOf("\n");
  return { body: text.slice(0, split), version: text.slice(split + 1) };
}

Deno.test("HTTPS and SERVER_PROTOCOL", async (t) => {
  const certs = await makeCertificates();
  const group = defineGroup("tls", { processes: 0 });
  const router = createRouter();
  mountWsgi(router, "/", script, { group });
  await group.ready();
  const lines: string[] = [];
  const handler = withAccessLog(router.fetch, {
    sink: (line) => lines.push(line),
  });
  const secure = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(certs.certFile),
    key: await Deno.readTextFile(certs.keyFile),
    onListen() {},
  }, handler);
  const plain = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler,
  );
  const https = `https://localhost:${secure.addr.port}/environ`;
  try {
    for (
      const [flag, protocol, version] of [
        ["--http2", "HTTP/2", "2"],
        ["--http1.1", "HTTP/1.1", "1.1"],
      ]
    ) {
      await t.step(`TLS, ${protocol}`, async () => {
        const answer = await curl([flag, "--cacert", certs.caFile, https]);
        assert.equal(answer.version, version);
        const environ = JSON.parse(answer.body);
        assert.equal(environ["wsgi.url_scheme"], "https");
        assert.equal(environ.REQUEST_SCHEME, "https");
        assert.equal(environ.HTTPS, "1");
        assert.equal(environ.SERVER_PROTOCOL, protocol);
        assert.equal(environ.SERVER_NAME, "localhost");
        assert.equal(environ.SERVER_PORT, String(secure.addr.port));
        assert.match(
          lines.at(-1)!,
          new RegExp(`"GET /environ ${protocol}" 200 `),
        );
      });
    }
    await t.step("plain HTTP/2 (prior knowledge) and HTTP/1.1", async () => {
      const url = `http://127.0.0.1:${plain.addr.port}/environ`;
      const h2 = await curl(["--http2-prior-knowledge", url]);
      assert.equal(h2.version, "2");
      const environ = JSON.parse(h2.body);
      assert.equal(environ.SERVER_PROTOCOL, "HTTP/2");
      assert.equal(environ["wsgi.url_scheme"], "http");
      assert.equal(environ.HTTPS, null);
      assert.equal(environ.HTTP_HOST, `127.0.0.1:${plain.addr.port}`);
      const h1 = JSON.parse((await curl(["--http1.1", url])).body);
      assert.equal(h1.SERVER_PROTOCOL, "HTTP/1.1");
    });
  } finally {
    await secure.shutdown();
    await plain.shutdown();
    await group.shutdown();
    await Deno.remove(certs.dir, { recursive: true });
  }
});
