import assert from "node:assert/strict";
import { alias, MAX_REQUEST_LINE } from "./dispatch.ts";
import { createRouter } from "./router.ts";

function router() {
  const routes = createRouter();
  alias(routes, "/media/", "./examples/hello/static/media/");
  return routes;
}

Deno.test("a request line over 8190 bytes gets 414, as Apache", async () => {
  const routes = router();
  // "GET " + target + " HTTP/1.1" is exactly the limit.
  const fits = "/media/" + "a".repeat(MAX_REQUEST_LINE - 7 - 13);
  const answer = await routes.fetch(new Request(`http://x${fits}`));
  assert.equal(answer.status, 404, "exactly at the limit: served (absent)");
  await answer.body?.cancel();
  const long = await routes.fetch(new Request(`http://x${fits}a`));
  assert.equal(long.status, 414);
  await long.body?.cancel();
});

Deno.test("malformed percent-encoding is 400 before any alias or mount", async () => {
  const answer = await router().fetch(new Request("http://x/media/%zz"));
  assert.equal(answer.status, 400);
  await answer.body?.cancel();
});
