/**
 * Python that waits, through the gateway: `run_sync` works in an ordinary
 * GET; while a request waits in recv() on a server that never answers, the
 * server's TypeScript routes keep answering; requestTimeout ends the wait
 * with 504 and the group serves on.
 */

import assert from "node:assert/strict";
import { createRouter, defineGroup, mountWsgi } from "../mod.ts";
import { appPath, serve } from "./helpers.ts";
import { startSilentServer } from "./servers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

async function get(url: string): Promise<[number, string, number]> {
  const started = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  return [response.status, await response.text(), performance.now() - started];
}

for (const [mode, processes] of [["Web Worker", 1], ["embedded", 0]] as const) {
  Deno.test(
    `waits (${mode}): run_sync, a free event loop, requestTimeout in recv()`,
    options,
    async () => {
      const silent = await startSilentServer();
      const group = defineGroup(`waits-${processes}`, {
        processes,
        requestTimeout: 2,
      });
      const router = createRouter();
      router.get("/api/ping", () => new Response("pong"));
      mountWsgi(router, "/w", appPath("waits_app.wsgi"), { group });
      await group.ready();
      const server = serve(router.fetch);
      try {
        assert.deepEqual(
          (await get(`${server.base}/w/run_sync`)).slice(0, 2),
          [200, "run_sync ok"],
        );
        const hanging = get(`${server.base}/w/recv?port=${silent.port}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
        const [status, body, ms] = await get(`${server.base}/api/ping`);
        assert.deepEqual([status, body], [200, "pong"]);
        assert.ok(
          ms < 500,
          `a TypeScript route took ${ms} ms while Python waited`,
        );
        const [timedOut, , waited] = await hanging;
        assert.equal(timedOut, 504);
        assert.ok(waited < 5000, `504 after ${waited} ms`);
        const [again, text] = await get(`${server.base}/w/run_sync`);
        assert.deepEqual([again, text], [200, "run_sync ok"]);
        assert.equal(group.metrics().timeouts, 1);
      } finally {
        await server.close();
        await group.shutdown();
        await silent.stop();
      }
    },
  );
}
