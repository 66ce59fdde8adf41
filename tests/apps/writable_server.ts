/**
 * A one-group server for tests/writable_test.ts, run as a child Deno
 * process with the permissions the test chooses (so that a missing
 * `--allow-write` can be seen as a user would):
 *
 *   deno run --allow-read ... tests/apps/writable_server.ts SCRIPT DATA
 *
 * Prints the port once the group is ready.
 *
 * @module
 */

import { createRouter, defineGroup, mountWsgi } from "../../mod.ts";

const [script, data] = Deno.args;
const group = defineGroup("writable-child", { processes: 1, writable: [data] });
const router = createRouter();
mountWsgi(router, "/", script, { group, environ: { DATA: data } });
await group.ready();
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  router.fetch,
);
console.log(server.addr.port);
