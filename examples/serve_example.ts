/**
 * Start-up shared by the example servers (the demo, flask-beside-hono,
 * django, bottle): their command-line flags, and serving their app until
 * Python is ready.
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
 * example's own string flags, named by the keys of `extra` with its values
 * as defaults, from the command line.
 *
 * @example
 * ```ts ignore
 * const flags = parseExampleFlags({ data: undefined, prefix: "/myapp" });
 * console.log(flags.port, flags.extra.data, flags.extra.prefix);
 * ```
 */
export function parseExampleFlags(
  extra: Record<string, string | undefined> = {},
): ExampleFlags {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "8000" },
      hostname: { type: "string", default: "127.0.0.1" },
      processes: { type: "string", default: "1" },
      ...Object.fromEntries(
        Object.entries(extra).map(([name, fallback]) => [
          name,
          { type: "string" as const, default: fallback },
        ]),
      ),
    },
  });
  const strings = values as Record<string, string | undefined>;
  return {
    port: Number(strings.port),
    hostname: strings.hostname!,
    processes: Number(strings.processes),
    extra: Object.fromEntries(
      Object.keys(extra).map((name) => [name, strings[name]]),
    ),
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
  try {
    await mount.ready();
    console.log(messages.ready());
  } catch (error) {
    // The server goes on: a fixed script loads on a later request.
    console.error((error as Error).message);
  }
  await server.finished;
}
