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
    "Content-Length: identical repeats reach the app as one value, and the app reads the body by it",
  ...options,
  async fn() {
    const { port } = await ready;
    for (
      const lines of [
        ["Content-Length: 3", "Content-Length: 3"],
        ["Content-Length: 3", "Content-Length: 03"],
      ]
    ) {
      const what = lines.join(" / ");
      const environ = await rawRequest(
        port,
        "POST /app/environ HTTP/1.1",
        ["Content-Type: text/plain", ...lines],
        body,
      );
      assert.equal(environ.status, 200, what);
      const shown = JSON.parse(decoder.decode(environ.body));
      assert.equal(shown.CONTENT_LENGTH, "3", what);
      assert.equal(shown.HTTP_CONTENT_LENGTH, undefined, what);
      // The app reads int(CONTENT_LENGTH) bytes, which failed on "3, 3".
      const echo = await rawRequest(
        port,
        "POST /app/echo HTTP/1.1",
        lines,
        body,
      );
      assert.equal(echo.status, 200, what);
      assert.equal(decoder.decode(echo.body), "abc", what);
    }
  },
});

Deno.test({
  name: "Content-Length: conflicting values answer 400 and never reach Python",
  ...options,
  async fn() {
    const { port } = await ready;
    // Over HTTP/1.1, Deno's own parser already refuses them.
    const raw = await rawRequest(
      port,
      "POST /app/environ HTTP/1.1",
      ["Content-Length: 3", "Content-Length: 4"],
      body,
    );
    assert.equal(raw.status, 400);
    // A request handed to the router by other means (a proxy in the same
    // process, a test) still carries the joined list: the gateway refuses
    // it with its own 400.
    const before = group.metrics().requests;
    const refused = await postInProcess("3, 4");
    assert.equal(refused.status, 400);
    assert.equal(await refused.text(), "400 Bad Request\n");
    assert.equal(group.metrics().requests, before, "Python saw the request");
    const joined = await postInProcess("3, 3");
    assert.equal(joined.status, 200);
    assert.equal((await joined.json()).CONTENT_LENGTH, "3");
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
