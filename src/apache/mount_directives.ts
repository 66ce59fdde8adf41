/**
 * The directives that say what a server or a `<VirtualHost>` serves:
 * mounts (`WSGIScriptAlias`, `WSGIScriptAliasMatch`) and files (`Alias`,
 * `AliasMatch`, `DocumentRoot`), each as a line of the host it stands in.
 *
 * @module
 */

import { resolve } from "node:path";
import { keyValues } from "./daemon.ts";
import type { ConfigDirective } from "./reader.ts";
import { argumentCount, fail, warn } from "./report.ts";
import type { Collected, MountLine } from "./to_site.ts";

/** Options `WSGIScriptAlias` takes after the script path. */
const SCRIPT_OPTIONS = new Set([
  "process-group",
  "application-group",
  "callable-object",
  "pass-authorization",
]);

/** A script path that names a folder (written with a trailing slash, or one on disk). */
function isFolder(base: string, path: string): boolean {
  if (path.endsWith("/")) return true;
  try {
    return Deno.statSync(resolve(base, path)).isDirectory;
  } catch {
    return false;
  }
}

/** Mount prefixes as mountWsgi takes them: no trailing slash but "/". */
function prefixOf(url: string): string {
  return url === "/" ? "/" : url.replace(/\/+$/, "") || "/";
}

/** `^/prefix(.*)$`-style patterns with a literal prefix, or undefined. */
function literalPrefix(pattern: string): string | undefined {
  const match = /^\^?(\/[\w\-./~]*?)(?:\(\.\*\)|\(\/\.\*\)\?|\.\*)?\$?$/.exec(
    pattern,
  );
  return match?.[1];
}

/**
 * Handles a mount or alias directive of the server or of virtual host
 * `host`; false when `node` is not one.
 */
export function mountDirective(
  node: ConfigDirective,
  host: number | undefined,
  collected: Collected,
): boolean {
  const hostOrServer = host === undefined ? undefined : collected.hosts[host];
  /** A line of this host (or the server) that maps `url` to `path`. */
  const line = (url: string, path: string) => ({
    node,
    host,
    urlPath: url,
    path: resolve(node.base, path),
  });
  /** A mount or an alias: this host (or the server) serves something. */
  const serving = <T>(lines: T[], added: T) => {
    lines.push(added);
    if (hostOrServer) hostOrServer.serves = true;
    return true;
  };
  const mount = (url: string, script: string, options: MountLine["options"]) =>
    serving(collected.mounts, {
      node,
      host,
      prefix: prefixOf(url),
      script: resolve(node.base, script),
      options,
    });
  switch (node.key) {
    case "wsgiscriptalias": {
      argumentCount(node, 2, Infinity);
      const [url, script, ...rest] = node.args;
      const options = Object.fromEntries(keyValues(node, rest));
      for (const key of Object.keys(options)) {
        if (!SCRIPT_OPTIONS.has(key)) {
          fail(
            node,
            `WSGIScriptAlias: unknown option ${key}= (known: ${
              [...SCRIPT_OPTIONS].join(", ")
            })`,
          );
        }
      }
      if (isFolder(node.base, script)) {
        warn(
          collected,
          node,
          "WSGIScriptAlias",
          "a folder of scripts (one per URL) is not emulated; mount each script with its own WSGIScriptAlias",
        );
        return true;
      }
      return mount(url, script, options);
    }
    case "wsgiscriptaliasmatch": {
      argumentCount(node, 2, Infinity);
      const [pattern, script, ...rest] = node.args;
      const prefix = literalPrefix(pattern);
      if (prefix === undefined || /\$\d/.test(script)) {
        warn(
          collected,
          node,
          "WSGIScriptAliasMatch",
          "only a literal prefix (such as ^/app(/.*)?$) onto one script can be mounted; this pattern is not served: use WSGIScriptAlias per script",
        );
        return true;
      }
      return mount(prefix, script, Object.fromEntries(keyValues(node, rest)));
    }
    case "alias":
      argumentCount(node, 2, Infinity);
      return serving(collected.aliases, line(node.args[0], node.args[1]));
    case "aliasmatch": {
      argumentCount(node, 2, Infinity);
      const prefix = literalPrefix(node.args[0]);
      const target = /^(.*?)\$1$/.exec(node.args[1])?.[1];
      if (
        prefix === undefined || target === undefined ||
        !/^\^.*\(\.\*\)\$?$/.test(node.args[0])
      ) {
        warn(
          collected,
          node,
          "AliasMatch",
          "only ^/prefix(.*)$ onto a folder ending in $1 can be served; this pattern is not: use Alias",
        );
        return true;
      }
      return serving(collected.aliases, line(prefix, target));
    }
    case "documentroot":
      argumentCount(node, 1, Infinity);
      collected.documentRoots.push(line("/", node.args[0]));
      return true;
    default:
      return false;
  }
}
