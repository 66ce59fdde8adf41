/**
 * The multi-core Deno side of bench/static_bench.ts: `deno serve --parallel`
 * runs this module in one isolate per core (DENO_JOBS), each serving the
 * folder named by STATIC_ROOT at "/media/" through src/aliases.ts, as
 * Apache's workers each serve its Alias.
 *
 * Run: STATIC_ROOT=/srv/media DENO_JOBS=2 deno serve --parallel -A --host 127.0.0.1 --port 8000 bench/static/parallel_server.ts
 *
 * @module
 */

import { createAlias, matchAlias, serveAlias } from "../../src/aliases.ts";

const root = Deno.env.get("STATIC_ROOT");
if (!root) {
  throw new Error(
    "parallel_server.ts: set STATIC_ROOT to the folder served at /media/",
  );
}
const media = createAlias("/media/", root);

function rawPathname(url: string): string {
  const target = url.slice(url.indexOf("/", url.indexOf("://") + 3));
  const end = target.search(/[?#]/);
  return end < 0 ? target : target.slice(0, end);
}

// `deno serve` needs a default export: this is an entry point, not a library module.
export default {
  fetch(request: Request): Response | Promise<Response> {
    const remainder = matchAlias(media, rawPathname(request.url));
    return remainder === null
      ? new Response("not found\n", { status: 404 })
      : serveAlias(media, request, remainder);
  },
} satisfies Deno.ServeDefaultExport;
