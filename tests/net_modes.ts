/**
 * What tests/databases_test.ts and tests/http_client_test.ts share: the
 * deployment modes their apps run in, a way to serve an app in one of them
 * over loopback HTTP, and a JSON GET/POST helper.
 *
 * Setting DENO_WSGI_HOST_PYTHONPATH to a folder of the same packages
 * installed for the host's CPython (`pip install --target DIR -r
 * tests/requirements.txt`) adds a mode that runs the apps under CPython's
 * wsgiref instead of the gateway: when a test fails in the gateway only,
 * that tells the app from the gateway. DENO_WSGI_NET_MODES (comma-separated
 * mode names, e.g. "embedded,host CPython") runs only those modes.
 *
 * @module
 */

import type { GroupOptions } from "../mod.ts";
import { serveGroup } from "./helpers.ts";

/** A deployment mode: a group's options, or the host's CPython. */
export interface Mode {
  name: string;
  options?: GroupOptions;
  /** Runs the app under the host's CPython (wsgiref) instead. */
  hostPythonPath?: string;
}

/** An app served over loopback HTTP. */
export interface AppServer {
  base: string;
  close(): Promise<void>;
}

/**
 * The three ways a group runs Python: a Web Worker (the default), a child
 * process, and embedded in the server's isolate; plus host CPython when
 * DENO_WSGI_HOST_PYTHONPATH is set.
 */
export function modes(): Mode[] {
  const list: Mode[] = [
    { name: "Web Worker", options: { processes: 1 } },
    { name: "process", options: { processes: 1, isolation: "process" } },
    { name: "embedded", options: { processes: 0 } },
  ];
  const hostPythonPath = Deno.env.get("DENO_WSGI_HOST_PYTHONPATH");
  if (hostPythonPath) list.push({ name: "host CPython", hostPythonPath });
  const only = Deno.env.get("DENO_WSGI_NET_MODES");
  if (!only) return list;
  const wanted = only.split(",").map((name) => name.trim().toLowerCase());
  return list.filter((mode) => wanted.includes(mode.name.toLowerCase()));
}

/**
 * Serves `script` in `mode` at the root of a loopback server, with
 * `environ` added to every request's WSGI environ (mod_wsgi's SetEnv).
 */
export async function serveApp(
  groupName: string,
  mode: Mode,
  script: string,
  environ: Record<string, string>,
  pythonPath: string[],
  extraOptions: GroupOptions = {},
): Promise<AppServer> {
  if (mode.hostPythonPath) {
    return await serveWithHostPython(script, environ, mode.hostPythonPath);
  }
  return await serveGroup(
    groupName,
    { ...mode.options, ...extraOptions, pythonPath },
    [["/", script, { environ }]],
  );
}

/** The host's CPython, wsgiref, one request at a time; prints its port. */
const HOST_RUNNER = `
import json, runpy, sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

script, extra = sys.argv[1], json.loads(sys.argv[2])
app = runpy.run_path(script)["application"]

def with_environ(environ, start_response):
    environ.update(extra)
    return app(environ, start_response)

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

server = make_server("127.0.0.1", 0, with_environ, handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
`;

async function serveWithHostPython(
  script: string,
  environ: Record<string, string>,
  pythonPath: string,
): Promise<AppServer> {
  const child = new Deno.Command("python3", {
    args: ["-c", HOST_RUNNER, script, JSON.stringify(environ)],
    env: { PYTHONPATH: pythonPath },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const { value } = await reader.read();
  clearTimeout(timer);
  const port = Number(value?.trim());
  if (!port) {
    throw new Error(`the host CPython runner printed no port: ${value}`);
  }
  return {
    base: `http://127.0.0.1:${port}`,
    close: async () => {
      child.kill("SIGTERM");
      await child.status;
      reader.releaseLock();
    },
  };
}

/** A JSON answer and its status. */
export interface JsonAnswer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** GETs (or POSTs `body`, as UTF-8 text) and parses the JSON answer. */
export async function requestJson(
  url: string,
  body?: string,
): Promise<JsonAnswer> {
  const response = await fetch(url, {
    method: body === undefined ? "GET" : "POST",
    body,
    headers: body === undefined
      ? undefined
      : { "content-type": "text/plain; charset=utf-8" },
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    throw new Error(`${url} answered ${response.status}, not JSON: ${text}`);
  }
}

/** Like requestJson(), but fails with the answer unless it is a 200. */
// deno-lint-ignore no-explicit-any
export async function okJson(url: string, body?: string): Promise<any> {
  const answer = await requestJson(url, body);
  if (answer.status !== 200) {
    throw new Error(
      `${url} answered ${answer.status}: ${JSON.stringify(answer.body)}`,
    );
  }
  return answer.body;
}

/** The text every database and HTTP test round-trips. */
export const UNICODE_TEXT = "héllo wörld ✓ 日本";
