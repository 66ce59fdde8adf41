/**
 * Start-up shared by the framework examples (flask-beside-hono, django,
 * bottle): their command-line flags, and serving their app until Python
 * is ready.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { WsgiMount } from "../mod.ts";

/** The flags every example server takes. */
export interface ExampleFlags {
  port: number;
  hostname: string;
  /** Workers of the example's group. */
  processes: number;
  /** The example's own flags, by name. */
  extra: Record<string, string | undefined>;
}

/**
 * Reads `--port` (8000), `--hostname` (127.0.0.1), `--processes` (1) and the
 * string flags named in `extra` from the command line.
 *
 * @example
 * ```ts ignore
 * const flags = parseExampleFlags(["data"]);
 * console.log(flags.port, flags.extra.data);
 * ```
 */
export function parseExampleFlags(extra: string[] = []): ExampleFlags {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "8000" },
      hostname: { type: "string", default: "127.0.0.1" },
      processes: { type: "string", default: "1" },
      ...Object.fromEntries(
        extra.map((name) => [name, { type: "string" as const }]),
      ),
    },
  });
  const strings = values as Record<string, string | undefined>;
  return {
    port: Number(strings.port),
    hostname: strings.hostname!,
    processes: Number(strings.processes),
    extra: Object.fromEntries(extra.map((name) => [name, strings[name]])),
  };
}

/**
 * Serves `fetch` on the flags' address, prints where, then what `ready`
 * says once the mount's Python is up, and runs until the server stops.
 *
 * @example
 * ```ts ignore
 * await serveExample(app.fetch, mount, parseExampleFlags(), {
 *   listening: (base) => `Listening on ${base}/app/`,
 *   ready: () => "Flask is ready",
 * });
 * ```
 */
export async function serveExample(
  fetch: (request: Request) => Response | Promise<Response>,
  mount: WsgiMount,
  flags: ExampleFlags,
  messages: { listening: (base: string) => string; ready: () => string },
): Promise<void> {
  const server = Deno.serve({
    hostname: flags.hostname,
    port: flags.port,
    onListen: ({ hostname, port }) =>
      console.log(messages.listening(`http://${hostname}:${port}`)),
  }, fetch);
  await mount.ready();
  console.log(messages.ready());
  await server.finished;
}
