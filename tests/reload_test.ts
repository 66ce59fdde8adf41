/** Touching a WSGI script reloads it, as mod_wsgi's WSGIScriptReloading does. */

import assert from "node:assert/strict";
import { createRouter, defineGroup, mountWsgi } from "../mod.ts";
import { collectLogs, serve } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

function script(version: string): string {
  return `def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"${version}"]
`;
}

for (const processes of [1, 0]) {
  Deno.test({
    name: `a touched script is reloaded (processes: ${processes})`,
    ...options,
    fn: async () => {
      const logs = collectLogs();
      const folder = await Deno.makeTempDir();
      const path = `${folder}/app.wsgi`;
      await Deno.writeTextFile(path, script("version one"));
      const group = defineGroup(`reload-${processes}`, { processes });
      const router = createRouter();
      mountWsgi(router, "/r", path, { group });
      const fixed = defineGroup(`noreload-${processes}`, { processes: 0 });
      mountWsgi(router, "/fixed", path, { group: fixed, reload: false });
      await group.ready();
      await fixed.ready();
      const server = serve(router.fetch);
      try {
        assert.equal(
          await (await fetch(`${server.base}/r/`)).text(),
          "version one",
        );
        assert.equal(
          await (await fetch(`${server.base}/fixed/`)).text(),
          "version one",
        );
        await Deno.writeTextFile(path, script("version two"));
        const later = new Date(Date.now() + 5000);
        await Deno.utime(path, later, later);
        assert.equal(
          await (await fetch(`${server.base}/r/`)).text(),
          "version two",
        );
        assert.equal(
          await (await fetch(`${server.base}/fixed/`)).text(),
          "version one",
        );
        assert.ok(
          logs.entries.some((e) => e.message.includes("changed; restarting")),
        );
        assert.ok(group.metrics().restarts >= 1);
      } finally {
        logs.stop();
        await server.close();
        await group.shutdown();
        await fixed.shutdown();
        await Deno.remove(folder, { recursive: true });
      }
    },
  });
}
