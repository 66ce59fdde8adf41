/**
 * A one-mount embedded server for tests/request_buffering_test.ts, run as a
 * child Deno process without `--allow-write`, so that a body too large for
 * memory finds its folder closed as a user's server would:
 *
 *   deno run --allow-read ... tests/apps/buffering_server.ts SCRIPT FOLDER
 *
 * Prints the port once the group is ready.
 *
 * @module
 */

import { createRouter, defineGroup, mountWsgi } from "../../mod.ts";

const [script, folder] = Deno.args;
const group = defineGroup("buffering-child", { processes: 0 });
const router = createRouter();
mountWsgi(router, "/", script, {
  group,
  bodyBufferSize: 65536,
  bodyBufferFolder: folder,
});
await group.ready();
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  router.fetch,
);
console.log(server.addr.port);
