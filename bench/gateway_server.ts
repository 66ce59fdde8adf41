/**
 * The gateway as bench/run.ts starts it: one WSGI script at a prefix in a
 * group of N Web Workers, a static alias, behind Deno.serve on loopback.
 *
 * Run: deno run -A bench/gateway_server.ts --port 8500 --processes 2 \
 *   --app examples/hello/app.wsgi --prefix /myapp [--python-path DIR] [--alias /static/=DIR/] \
 *   [--env NAME=VALUE] (os.environ of the workers, e.g. DATABASE_URL)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { alias, createRouter, defineGroup, mountWsgi } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "8500" },
    processes: { type: "string", default: "2" },
    app: { type: "string" },
    prefix: { type: "string", default: "/" },
    "python-path": { type: "string", multiple: true, default: [] },
    alias: { type: "string", multiple: true, default: [] },
    env: { type: "string", multiple: true, default: [] },
  },
});
if (!values.app) throw new Error("--app names the WSGI script to serve");

const router = createRouter();
for (const spec of values.alias) {
  const [urlPath, target] = spec.split("=");
  alias(router, urlPath, target);
}
const group = defineGroup("bench", {
  processes: Number(values.processes),
  pythonPath: values["python-path"],
  queueLimit: 4096,
  env: Object.fromEntries(values.env.map((spec) => {
    const at = spec.indexOf("=");
    if (at <= 0) throw new Error(`--env: "${spec}" is not NAME=VALUE`);
    return [spec.slice(0, at), spec.slice(at + 1)];
  })),
});
mountWsgi(router, values.prefix, values.app, { group, reload: false });
await group.ready();
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  onListen() {
    console.log("ready");
  },
}, router.fetch);
