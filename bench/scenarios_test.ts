/**
 * The benchmark's answer checks: a faster wrong answer must not count.
 * Each default scenario's check refuses an error status and a wrong body.
 */

import assert from "node:assert/strict";
import { SCENARIOS } from "./scenarios.ts";

const encoder = new TextEncoder();

Deno.test("every scenario refuses an error status and a wrong body", () => {
  for (const scenario of SCENARIOS) {
    assert.match(
      scenario.check(500, encoder.encode("Internal Server Error")) ?? "",
      /status 500/,
      scenario.id,
    );
    assert.ok(
      scenario.check(200, encoder.encode("not the answer")) !== undefined,
      `${scenario.id} took a wrong body`,
    );
  }
});

Deno.test("the right answers pass", () => {
  const byId = new Map(SCENARIOS.map((scenario) => [scenario.id, scenario]));
  const passes = (id: string, body: Uint8Array) =>
    assert.equal(byId.get(id)!.check(200, body), undefined, id);
  passes("hello", encoder.encode("Hello World!"));
  passes("1MiB-response", new Uint8Array(1024 * 1024));
  passes("1MiB-upload", encoder.encode(String(1024 * 1024)));
  passes(
    "flask-json",
    encoder.encode(JSON.stringify({ count: 4, link: "/app/api/items" })),
  );
  // One byte short of the 1 MiB body is wrong.
  assert.match(
    byId.get("1MiB-response")!.check(200, new Uint8Array(1024 * 1024 - 1)) ??
      "",
    /1048575 bytes/,
  );
});
