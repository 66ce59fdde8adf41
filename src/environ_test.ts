import assert from "node:assert/strict";
import { buildCgiVariables, packEnviron } from "./environ.ts";
import { parseTarget } from "./url_path.ts";

Deno.test("environ: CGI variables from a request, no HTTP_ copies of Content-Length", () => {
  const request = new Request("http://example.org:8080/app/a%20b?x=1", {
    method: "POST",
    headers: {
      "content-type": "text/plain",
      "content-length": "3",
      "x-forwarded-for": "10.0.0.1",
      "x_forwarded_for": "spoofed",
    },
  });
  const target = parseTarget(request.url);
  const cgi = buildCgiVariables(request, target, target.path.slice(4), {
    scriptName: "/app",
  }, { remoteAddr: { hostname: "127.0.0.1", port: 4000 } });
  assert.equal(cgi.CONTENT_LENGTH, "3");
  assert.equal(cgi.CONTENT_TYPE, "text/plain");
  assert.equal(cgi.HTTP_CONTENT_LENGTH, undefined);
  assert.equal(cgi.HTTP_X_FORWARDED_FOR, "10.0.0.1");
  assert.equal(cgi.SCRIPT_NAME, "/app");
  assert.equal(cgi.PATH_INFO, "/a b");
  assert.equal(cgi.QUERY_STRING, "x=1");
  assert.equal(cgi.REQUEST_URI, "/app/a%20b?x=1");
  assert.equal(cgi.SERVER_NAME, "example.org");
  assert.equal(cgi.SERVER_PORT, "8080");
  assert.equal(cgi.REMOTE_ADDR, "127.0.0.1");
  assert.equal(cgi.REMOTE_PORT, "4000");
  assert.equal(packEnviron({ A: "1", B: "" }), "A\x001\x00B\x00");
});
