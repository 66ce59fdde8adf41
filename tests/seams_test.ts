/**
 * Regression tests for defects that sat on the seams between modules
 * (issue 11): a streamed head Deno would refuse, one script mounted twice
 * in one application group, and mount.ready() after a failed load.
 */

import assert from "node:assert/strict";
import { createRouter, defineGroup, mountWsgi } from "../mod.ts";
import { appPath, collectLogs, serve } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("seams_app.wsgi");

async function text(url: string): Promise<[number, string, number]> {
  const started = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  return [response.status, await response.text(), performance.now() - started];
}

Deno.test(
  "a streamed head ending in a newline is a 500, and the worker's next request does not wait",
  options,
  async () => {
    const logs = collectLogs();
    const group = defineGroup("seams-newline", {
      processes: 1,
      requestTimeout: 10,
    });
    const router = createRouter();
    mountWsgi(router, "/s", app, { group });
    await group.ready();
    const server = serve(router.fetch);
    try {
      for (const path of ["/s/newline-header", "/s/newline-status"]) {
        const [status] = await text(`${server.base}${path}`);
        assert.equal(status, 500, path);
        const [next, body, ms] = await text(`${server.base}/s/hello`);
        assert.equal(next, 200);
        assert.equal(body, "hello");
        assert.ok(ms < 2000, `the next request took ${ms} ms after ${path}`);
      }
      assert.match(logs.text(), /not a valid HTTP token/);
      assert.match(logs.text(), /not a three-digit code/);
      assert.equal(group.metrics().restarts, 0);
    } finally {
      logs.stop();
      await server.close();
      await group.shutdown();
    }
  },
);

for (const processes of [1, 0]) {
  Deno.test(
    `one script mounted twice in one application group is loaded once (processes: ${processes})`,
    options,
    async () => {
      const group = defineGroup(`seams-twice-${processes}`, { processes });
      const router = createRouter();
      for (const prefix of ["/a", "/b"]) {
        mountWsgi(router, prefix, app, {
          group,
          applicationGroup: "%{GLOBAL}",
        });
      }
      // A third mount in its own application group has its own module.
      mountWsgi(router, "/c", app, { group });
      await group.ready();
      const server = serve(router.fetch);
      try {
        assert.deepEqual(await text(`${server.base}/a/count`).then(first2), [
          200,
          "1 1",
        ]);
        assert.deepEqual(await text(`${server.base}/b/count`).then(first2), [
          200,
          "2 1",
        ]);
        assert.deepEqual(await text(`${server.base}/c/count`).then(first2), [
          200,
          "1 1",
        ]);
      } finally {
        await server.close();
        await group.shutdown();
      }
    },
  );
}

Deno.test(
  "mount.ready() rejects when the script failed to load; the log says so, and the server keeps serving",
  options,
  async () => {
    const logs = collectLogs();
    const folder = Deno.realPathSync(Deno.makeTempDirSync());
    const script = `${folder}/app.wsgi`;
    Deno.writeTextFileSync(script, 'raise RuntimeError("broken on purpose")\n');
    const group = defineGroup("seams-ready", { processes: 1 });
    const router = createRouter();
    const broken = mountWsgi(router, "/broken", script, { group });
    const fine = mountWsgi(router, "/fine", app, { group });
    const server = serve(router.fetch);
    try {
      await assert.rejects(broken.ready(), /failed to load/);
      await fine.ready();
      assert.doesNotMatch(logs.text(), /worker ready/);
      assert.match(logs.text(), /failed to load/);
      assert.equal((await text(`${server.base}/fine/`))[1], "hello");
      assert.equal((await text(`${server.base}/broken/`))[0], 500);
      // Fixed, it loads on a later request, as before.
      Deno.writeTextFileSync(
        script,
        'def application(e, s):\n    s("200 OK", [])\n    return [b"fixed"]\n',
      );
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const [status, body] = await text(`${server.base}/broken/`);
      assert.deepEqual([status, body], [200, "fixed"]);
    } finally {
      logs.stop();
      await server.close();
      await group.shutdown();
      Deno.removeSync(folder, { recursive: true });
    }
  },
);

function first2([status, body]: [number, string, number]): [number, string] {
  return [status, body];
}
