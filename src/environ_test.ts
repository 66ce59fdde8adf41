import assert from "node:assert/strict";
import { buildCgiVariables, parseTarget, protocolOf } from "./environ.ts";

const connection = { remoteAddr: { hostname: "127.0.0.1", port: 40000 } };

Deno.test("protocolOf: Host means HTTP/1.1, :authority alone HTTP/2", () => {
  const h1 = new Request("http://example.com/", {
    headers: { host: "example.com" },
  });
  const h2 = new Request("https://example.com/");
  assert.equal(protocolOf(h1, connection), "HTTP/1.1");
  assert.equal(protocolOf(h2, connection), "HTTP/2");
  // Built in-process: no connection, no version to tell.
  assert.equal(protocolOf(h2), "HTTP/1.1");
});

Deno.test("an HTTP/2 request gets HTTP_HOST from its authority", () => {
  const request = new Request("https://example.com:8443/a?b");
  const environ = buildCgiVariables(
    request,
    parseTarget(request.url),
    "/a",
    { scriptName: "" },
    connection,
  );
  assert.equal(environ.SERVER_PROTOCOL, "HTTP/2");
  assert.equal(environ.HTTP_HOST, "example.com:8443");
  assert.equal(environ.SERVER_NAME, "example.com");
  assert.equal(environ.SERVER_PORT, "8443");
  assert.equal(environ["wsgi.url_scheme"], "https");
  assert.equal(environ.HTTPS, "1");
});
