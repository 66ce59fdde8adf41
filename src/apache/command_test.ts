import assert from "node:assert/strict";
import { planFromApache, replaceListeners } from "./command.ts";
import type { SiteConfig } from "../site.ts";

Deno.test("from-apache arguments: CONF, --print, --check, -D, --listen, mistakes", () => {
  assert.deepEqual(
    planFromApache([
      "a.conf",
      "-D",
      "ONE",
      "--define",
      "TWO",
      "--listen",
      "9000",
    ]),
    {
      help: false,
      conf: "a.conf",
      print: false,
      check: false,
      importFrom: undefined,
      defines: ["ONE", "TWO"],
      listen: ["9000"],
    },
  );
  assert.equal(planFromApache(["--help"]).help, true);
  assert.throws(() => planFromApache([]), /CONF is missing/);
  assert.throws(() => planFromApache(["a", "b"]), /one CONF only/);
  assert.throws(
    () => planFromApache(["a", "--bogus"]),
    /Unknown option '--bogus'/,
  );
});

Deno.test("from-apache --listen replaces the file's listeners, and says so for HTTPS", () => {
  const site: SiteConfig = {
    listeners: [
      { hostname: "0.0.0.0", port: 80 },
      { hostname: "0.0.0.0", port: 443, tls: { certFile: "c", keyFile: "k" } },
    ],
    groups: {},
    mounts: [],
    aliases: [],
    warnings: [],
  };
  replaceListeners(site, ["8000", "0.0.0.0:8001", "[::1]:8002"]);
  assert.deepEqual(site.listeners, [
    { hostname: "127.0.0.1", port: 8000 },
    { hostname: "0.0.0.0", port: 8001 },
    { hostname: "::1", port: 8002 },
  ]);
  assert.deepEqual(site.warnings.map((w) => w.directive), ["--listen"]);
  assert.throws(
    () => replaceListeners(site, ["eighty"]),
    /--listen takes \[HOST:\]PORT/,
  );
});
