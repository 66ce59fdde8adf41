/**
 * The `deno-wsgi` command: `start-server SCRIPT [options]` (mod_wsgi-express's
 * command and options) and the other sub-commands listed by `--help`.
 *
 * Run from a checkout: `deno task serve -- start-server app.wsgi --port 8000`.
 *
 * @example Start the hello app on port 8000
 * ```sh
 * deno run -A cli.ts start-server examples/hello/app.wsgi --port 8000
 * ```
 *
 * @module
 */

import { main } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
