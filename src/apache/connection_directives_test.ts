import assert from "node:assert/strict";
import { connectionDirective } from "./connection_directives.ts";
import { ApacheConfigError } from "./lexer.ts";
import type { ConfigDirective } from "./reader.ts";
import type { Collected } from "./to_site.ts";

/** A directive as the reader gives it, at conf:1. */
function line(text: string): ConfigDirective {
  const [name, ...args] = text.split(" ");
  return {
    kind: "directive",
    name,
    key: name.toLowerCase(),
    args,
    file: "conf",
    line: 1,
    base: "/",
  };
}

/** What the directives collect; only the fields they touch. */
function collected(): Collected {
  return { listens: [], connections: {}, warnings: [] } as unknown as Collected;
}

Deno.test("connection directives: Listen binds every address unless one is named", () => {
  const into = collected();
  assert.ok(connectionDirective(line("Listen 80"), undefined, into));
  assert.ok(
    connectionDirective(line("Listen [::1]:8443 https"), undefined, into),
  );
  assert.deepEqual(
    into.listens.map((l) => [l.listener.hostname, l.listener.port, l.https]),
    [["0.0.0.0", 80, false], ["::1", 8443, true]],
  );
  assert.throws(
    () => connectionDirective(line("Listen 80"), undefined, into),
    /already listened on/,
  );
  assert.throws(
    () => connectionDirective(line("Listen 81"), 0, into),
    ApacheConfigError,
    "not inside <VirtualHost>",
  );
});

Deno.test("connection directives: timeouts and MaxRequestWorkers become connection limits", () => {
  const into = collected();
  for (
    const text of [
      "Timeout 30",
      "KeepAliveTimeout 500ms",
      "MaxRequestWorkers 150",
      "RequestReadTimeout header=15-30,MinRate=500 body=20,MinRate=500",
    ]
  ) assert.ok(connectionDirective(line(text), undefined, into));
  assert.deepEqual(into.connections, {
    socketTimeout: 30,
    keepAliveTimeout: 0.5,
    maxClients: 150,
    headerTimeout: 15,
  });
  assert.equal(into.bodyTimeout?.timeout, 20);
  assert.equal(into.bodyTimeout?.minRate, 500);
  assert.equal(into.warnings.length, 1, "the header extension is warned");
  assert.ok(connectionDirective(line("KeepAlive Off"), undefined, into));
  assert.equal(into.connections.keepAliveTimeout, 0);
  assert.throws(
    () => connectionDirective(line("Timeout 300ms"), undefined, into),
    /expected a number of seconds, got "300ms"/,
  );
});

Deno.test("connection directives: others are left to the caller", () => {
  assert.equal(
    connectionDirective(line("ServerName example.com"), undefined, collected()),
    false,
  );
});
