/**
 * Readiness and liveness: 503 while a group starts, 200 once it has, and
 * the options checked.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  createRouter,
  defineGroup,
  mountHealthChecks,
  mountWsgi,
  shutdown,
} from "../mod.ts";
import { appPath } from "./helpers.ts";

Deno.test("readiness is 503 while a group starts its workers, 200 once it has; liveness is 200 throughout", async () => {
  const router = createRouter();
  const group = defineGroup("health-start", { processes: 1 });
  mountWsgi(router, "/", appPath("connections_app.wsgi"), { group });
  mountHealthChecks(router, { ready: "/readyz", live: "/livez" });
  try {
    const starting = await router.fetch(new Request("http://x/readyz"));
    assert.equal(starting.status, 503);
    assert.equal(await starting.text(), "starting: group health-start\n");
    const live = await router.fetch(new Request("http://x/livez"));
    assert.equal(live.status, 200);
    assert.equal(await live.text(), "live\n");
    await group.ready();
    const ready = await router.fetch(new Request("http://x/readyz"));
    assert.equal(ready.status, 200);
    assert.equal(ready.headers.get("cache-control"), "no-store");
    assert.equal(await ready.text(), "ready\n");
  } finally {
    await shutdown();
  }
});

Deno.test("mountHealthChecks: options are checked, naming the option", () => {
  const router = createRouter();
  for (
    const [options, pattern] of [
      [{ ready: "ready" }, /"ready" must be a URL path/],
      [{ live: 5 }, /"live" must be a URL path/],
      [{ ready: "/x", live: "/x" }, /must differ/],
      [{ path: "/x" }, /unknown option "path"/],
    ] as const
  ) {
    assert.throws(
      () => mountHealthChecks(router, options as never),
      (error: Error) =>
        error instanceof TypeError && pattern.test(error.message),
    );
  }
});
