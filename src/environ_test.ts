import assert from "node:assert/strict";
import {
  BadHeaderError,
  buildCgiVariables,
  packEnviron,
  protocolOf,
  singleContentLength,
} from "./environ.ts";
import { parseTarget } from "./url_path.ts";

Deno.test("environ: one Content-Length is one length; any repeat is refused, as Apache does", () => {
  assert.equal(singleContentLength("3"), "3");
  assert.equal(singleContentLength("03"), "3");
  assert.equal(singleContentLength("0"), "0");
  assert.equal(singleContentLength("000"), "0");
  for (
    const bad of [
      "3, 3",
      "3,3 , 3",
      "03, 3",
      "3, 4",
      "3, ",
      "",
      "-1",
      "3x",
      "1e3",
      " , ",
    ]
  ) {
    assert.throws(() => singleContentLength(bad), BadHeaderError, bad);
  }
});

Deno.test("environ: CGI variables from a request, Content-Length once, no HTTP_ copies", () => {
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
  const conflicting = new Request("http://h/", {
    method: "POST",
    headers: { "content-length": "3, 4" },
  });
  assert.throws(
    () =>
      buildCgiVariables(conflicting, parseTarget(conflicting.url), "/", {
        scriptName: "",
      }),
    BadHeaderError,
  );
  assert.equal(packEnviron({ A: "1", B: "" }), "A\x001\x00B\x00");
});

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

Deno.test("Proxy and Proxy-Authorization never reach the app (httpoxy)", () => {
  const request = new Request("http://example.com/", {
    headers: {
      host: "example.com",
      proxy: "http://attacker.example:8080",
      "proxy-authorization": "Basic c2VjcmV0",
      "x-kept": "1",
    },
  });
  const environ = buildCgiVariables(
    request,
    parseTarget(request.url),
    "/",
    { scriptName: "" },
  );
  assert.equal(environ.HTTP_PROXY, undefined);
  assert.equal(environ.HTTP_PROXY_AUTHORIZATION, undefined);
  assert.equal(environ.HTTP_X_KEPT, "1");
});
