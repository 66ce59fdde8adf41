import assert from "node:assert/strict";
import {
  addressMatcher,
  applyProxyHeaders,
  forwardedClient,
  resolveProxyTrust,
} from "./proxy_headers.ts";

const where = "mountWsgi(test)";

function environ(extra: Record<string, string>): Record<string, string> {
  return {
    REMOTE_ADDR: "10.0.0.2",
    SERVER_NAME: "backend",
    SERVER_PORT: "8000",
    HTTP_HOST: "backend:8000",
    SCRIPT_NAME: "/app",
    "wsgi.url_scheme": "http",
    REQUEST_SCHEME: "http",
    ...extra,
  };
}

const nginx = () =>
  resolveProxyTrust(where, [
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
  ], ["10.0.0.0/8", "::1"])!;

Deno.test("addresses and CIDR ranges match, IPv4-mapped IPv6 as IPv4", () => {
  const matches = addressMatcher(where, "trustedProxies", [
    "10.0.0.0/8",
    "192.168.1.7",
    "fd00::/8",
  ]);
  assert.equal(matches("10.200.3.4"), true);
  assert.equal(matches("::ffff:10.1.2.3"), true);
  assert.equal(matches("192.168.1.7"), true);
  assert.equal(matches("192.168.1.8"), false);
  assert.equal(matches("fd12::1"), true);
  assert.equal(matches("[fd12::1]"), true);
  assert.equal(matches("11.0.0.1"), false);
  assert.equal(matches("not an address"), false);
});

Deno.test("bad proxy options throw, naming the option", () => {
  assert.throws(
    () => resolveProxyTrust(where, ["X-Forwarded-For"], ["10.0.0.0/33"]),
    /option "trustedProxies"/,
  );
  assert.throws(
    () => resolveProxyTrust(where, "X-Forwarded-For", []),
    /option "trustedProxyHeaders" must be an array/,
  );
  assert.throws(
    () => resolveProxyTrust(where, ["X-Originating-IP"], []),
    /"X-Originating-IP", which mod_wsgi does not know/,
  );
  assert.throws(
    () => resolveProxyTrust(where, ["X-Forwarded-For", "X-Real-IP"], []),
    /tell the same thing/,
  );
  assert.throws(
    () => resolveProxyTrust(where, undefined, "10.0.0.1"),
    /option "trustedProxies"/,
  );
  assert.equal(resolveProxyTrust(where, undefined, undefined), undefined);
});

Deno.test("X-Forwarded-For: the right-most address that is not a proxy", () => {
  const proxies = addressMatcher(where, "trustedProxies", ["10.0.0.0/8"]);
  assert.deepEqual(
    forwardedClient("6.6.6.6, 203.0.113.5, 10.0.0.9", proxies),
    { client: "203.0.113.5", honoured: "203.0.113.5, 10.0.0.9" },
  );
  assert.deepEqual(forwardedClient("10.0.0.3, 10.0.0.9", proxies), {
    client: "10.0.0.3",
    honoured: "10.0.0.3, 10.0.0.9",
  });
  assert.deepEqual(forwardedClient(" ,203.0.113.5,, ", proxies), {
    client: "203.0.113.5",
    honoured: "203.0.113.5",
  });
  assert.equal(forwardedClient(" , ", proxies), undefined);
});

/** What nginx sends with `proxy_set_header X-Forwarded-*`. */
const FROM_NGINX = {
  HTTP_X_FORWARDED_FOR: "6.6.6.6, 203.0.113.5",
  HTTP_X_FORWARDED_PROTO: "https",
  HTTP_X_FORWARDED_HOST: "www.example.com",
  HTTP_X_FORWARDED_PORT: "443",
};

/** The environ after `peer` sent these headers. */
function proxied(
  peer: string,
  headers: Record<string, string>,
  trust = nginx(),
): Record<string, string> {
  const env = environ(headers);
  applyProxyHeaders(env, trust, peer);
  return env;
}

Deno.test("from a trusted proxy the headers set the environ", () => {
  const env = proxied("10.0.0.2", { ...FROM_NGINX, HTTP_X_REAL_IP: "1.2.3.4" });
  assert.equal(env.REMOTE_ADDR, "203.0.113.5");
  assert.equal(env.HTTP_X_FORWARDED_FOR, "203.0.113.5");
  assert.equal(env["wsgi.url_scheme"], "https");
  assert.equal(env.REQUEST_SCHEME, "https");
  assert.equal(env.HTTPS, "1");
  assert.equal(env.HTTP_HOST, "www.example.com");
  assert.equal(env.SERVER_NAME, "www.example.com");
  assert.equal(env.SERVER_PORT, "443");
  // Another header of a trusted kind is never believed.
  assert.equal(env.HTTP_X_REAL_IP, undefined);
});

Deno.test("from anyone else the headers of a trusted kind are dropped", () => {
  const env = proxied("203.0.113.9", {
    ...FROM_NGINX,
    HTTP_X_SCRIPT_NAME: "/evil",
  });
  assert.equal(env.REMOTE_ADDR, "10.0.0.2");
  assert.equal(env["wsgi.url_scheme"], "http");
  assert.equal(env.HTTP_HOST, "backend:8000");
  assert.equal(env.SERVER_PORT, "8000");
  for (const key of Object.keys(env)) {
    assert.ok(!key.startsWith("HTTP_X_FORWARDED"), key);
  }
  // A kind no header is trusted for passes as an ordinary header.
  assert.equal(env.HTTP_X_SCRIPT_NAME, "/evil");
  assert.equal(env.SCRIPT_NAME, "/app");
});

Deno.test("no trustedProxies: no peer is trusted", () => {
  const trust = resolveProxyTrust(where, ["X-Forwarded-For"], undefined)!;
  const env = proxied("127.0.0.1", { HTTP_X_FORWARDED_FOR: "1.2.3.4" }, trust);
  assert.equal(env.REMOTE_ADDR, "10.0.0.2");
  assert.equal(env.HTTP_X_FORWARDED_FOR, undefined);
});

Deno.test("the other conventions: X-Real-IP, X-Forwarded-SSL, X-Forwarded-Server, X-Script-Name", () => {
  const trust = resolveProxyTrust(
    where,
    ["x-real-ip", "X-Forwarded-SSL", "X-Forwarded-Server", "X-Script-Name"],
    ["127.0.0.1"],
  )!;
  const env = proxied("127.0.0.1", {
    HTTP_X_REAL_IP: " 198.51.100.4 ",
    HTTP_X_FORWARDED_SSL: "on",
    HTTP_X_FORWARDED_SERVER: "proxy.example.com",
    HTTP_X_SCRIPT_NAME: "/public/",
  }, trust);
  assert.equal(env.REMOTE_ADDR, "198.51.100.4");
  assert.equal(env["wsgi.url_scheme"], "https");
  assert.equal(env.SERVER_NAME, "proxy.example.com");
  assert.equal(env.SCRIPT_NAME, "/public");
  const plain = proxied("127.0.0.1", {
    HTTPS: "1",
    HTTP_X_FORWARDED_SSL: "off",
  }, trust);
  assert.equal(plain["wsgi.url_scheme"], "http");
  assert.equal(plain.HTTPS, undefined);
});
