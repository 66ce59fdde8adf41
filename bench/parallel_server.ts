/**
 * The gateway in throughput mode as bench/run.ts starts it (the
 * `gateway-parallel` server): `deno serve --parallel` evaluates this module
 * in N isolates (`DENO_JOBS=N`), each with its own embedded interpreter
 * (`processes: 0`), and the kernel spreads the connections over the
 * isolates' listening sockets (SO_REUSEPORT). One WSGI script at a prefix,
 * its python-path folders and static aliases, behind the library's router:
 * the job of bench/gateway_server.ts, Apache's prefork MPM with mod_wsgi in
 * embedded mode instead of one server with a group of Web Workers.
 *
 * `deno serve` passes no script arguments, so the settings come from the
 * environment:
 *
 * - `WSGI_BENCH_APP`: the WSGI script (required);
 * - `WSGI_BENCH_PREFIX`: where it is mounted (default "/");
 * - `WSGI_BENCH_PYTHON_PATH`: import folders for Pyodide, joined with ":";
 * - `WSGI_BENCH_ALIASES`: static folders, "urlPath=dir,urlPath=dir";
 * - `WSGI_BENCH_ENV`: the interpreters' `os.environ` additions, a JSON
 *   object of strings (e.g. `{"DATABASE_URL": "postgresql://..."}`);
 * - `WSGI_BENCH_READY_FILE`: a file that each isolate appends one line to
 *   once its interpreter is ready, so that the benchmark can wait for all
 *   of them (an isolate only starts to listen after this module's top-level
 *   `await`, so until then the kernel sends every connection to the
 *   others).
 *
 * Every isolate awaits `group.ready()` before it exports its handler: no
 * request ever waits for Pyodide's start.
 *
 * Run: DENO_JOBS=2 WSGI_BENCH_APP=bench/apps/hello.py \
 *   npx -y deno@2.9.6 serve --parallel -A --host 127.0.0.1 --port 8500 bench/parallel_server.ts
 *
 * @module
 */

import { alias, createRouter, defineGroup, mountWsgi } from "../mod.ts";

const env = (name: string) => Deno.env.get(name)?.trim() || undefined;
const list = (value: string | undefined, separator: string) =>
  (value ?? "").split(separator).map((s) => s.trim()).filter(Boolean);

const app = env("WSGI_BENCH_APP");
if (!app) throw new Error("WSGI_BENCH_APP names the WSGI script to serve");

const router = createRouter();
for (const spec of list(env("WSGI_BENCH_ALIASES"), ",")) {
  const at = spec.indexOf("=");
  if (at <= 0) {
    throw new Error(`WSGI_BENCH_ALIASES: "${spec}" is not urlPath=directory`);
  }
  alias(router, spec.slice(0, at), spec.slice(at + 1));
}
const group = defineGroup("bench", {
  processes: 0,
  pythonPath: list(env("WSGI_BENCH_PYTHON_PATH"), ":"),
  queueLimit: 4096,
  env: JSON.parse(env("WSGI_BENCH_ENV") ?? "{}"),
});
mountWsgi(router, env("WSGI_BENCH_PREFIX") ?? "/", app, {
  group,
  reload: false,
});
await group.ready();

const readyFile = env("WSGI_BENCH_READY_FILE");
if (readyFile) {
  await Deno.writeTextFile(readyFile, "ready\n", { append: true });
}
console.log("ready");

// `deno serve` needs a default export: this is an entry point, not a library module.
export default { fetch: router.fetch } satisfies Deno.ServeDefaultExport;
