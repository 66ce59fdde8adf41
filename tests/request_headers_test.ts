/**
 * Request headers a client may repeat, over real HTTP on loopback with a
 * raw TCP client (fetch() cannot send a header twice), against the real
 * Pyodide in an embedded group.
 */

import assert from "node:assert/strict";
import { createRouter, defineGroup, mountWsgi } from "../mod.ts";
import { appPath, rawRequest, serve } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const body = new TextEncoder().encode("abc");
const decoder = new TextDecoder();

const group = defineGroup("request-headers", { processes: 0 });
const router = createRouter();
mountWsgi(router, "/app", appPath("conformance.wsgi"), { group });
const ready = group.ready().then(() => serve(router.fetch));

/** A POST handed to the router in-process, its Content-Length as given. */
function postInProcess(contentLength: string): Promise<Response> {
  return router.fetch(
    new Request("http://127.0.0.1/app/environ", {
      method: "POST",
      headers: { "content-length": contentLength },
      body,
    }),
  );
}

Deno.test({
  name:
    "Content-Length: any repeat, identical or not, answers 400 (as Apache) and never reaches Python",
  ...options,
  async fn() {
    const { port } = await ready;
    for (
      const lines of [
        ["Content-Length: 3", "Content-Length: 3"],
        ["Content-Length: 3", "Content-Length: 03"],
        ["Content-Length: 3, 3"],
        // Deno's own parser refuses differing values before the handler.
        ["Content-Length: 3", "Content-Length: 4"],
      ]
    ) {
      const what = lines.join(" / ");
      const before = group.metrics().requests;
      const raw = await rawRequest(
        port,
        "POST /app/environ HTTP/1.1",
        ["Content-Type: text/plain", ...lines],
        body,
      );
      assert.equal(raw.status, 400, what);
      assert.equal(group.metrics().requests, before, `Python saw ${what}`);
    }
    // One length, with a leading zero, is that length, and the app reads
    // the body by it.
    const echo = await rawRequest(
      port,
      "POST /app/echo HTTP/1.1",
      ["Content-Length: 03"],
      body,
    );
    assert.equal(echo.status, 200);
    assert.equal(decoder.decode(echo.body), "abc");
    // A request handed to the router by other means (a proxy in the same
    // process, a test) carries the joined list: refused the same way.
    for (const joined of ["3, 4", "3, 3"]) {
      const refused = await postInProcess(joined);
      assert.equal(refused.status, 400, joined);
      assert.equal(await refused.text(), "400 Bad Request\n");
    }
  },
});

Deno.test({
  name: "request headers: stop the server and the group",
  ...options,
  async fn() {
    await (await ready).close();
    await group.shutdown();
  },
});
