/**
 * mod_wsgi's per-directory settings (`WSGIProcessGroup`,
 * `WSGIApplicationGroup`, `SetEnv`, `Require`, ...) as they are written in
 * the server, a `<VirtualHost>`, a `<Directory>` or a `<Location>`, and
 * merged for one script or alias the way Apache merges them: server, then
 * virtual host, then the `<Directory>` sections that hold the file
 * (shortest path first), then the `<Location>` sections that hold the URL.
 *
 * @module
 */

import type { ConfigNode } from "./reader.ts";

/** A setting and the line that set it, for warnings and errors. */
export interface Setting<T> {
  value: T;
  node: ConfigNode;
}

/** What one scope says about the requests under it. */
export interface Settings {
  processGroup?: Setting<string>;
  applicationGroup?: Setting<string>;
  callable?: Setting<string>;
  passAuthorization?: Setting<boolean>;
  reload?: Setting<boolean>;
  chunkedRequest?: Setting<boolean>;
  trustedProxyHeaders?: Setting<string[]>;
  trustedProxies?: Setting<string[]>;
  limitRequestBody?: Setting<number>;
  /** SetEnv/PassEnv values; null: UnsetEnv. */
  environ: Record<string, string | null>;
  /** The access rule in force: the last `Require` (or `Allow`/`Deny`) line. */
  access?: Setting<"granted" | "denied" | "restricted">;
  /** `Options Indexes`: folder listings. */
  indexes?: Setting<boolean>;
}

/** One place settings are written. */
export interface Scope {
  kind: "server" | "vhost" | "directory" | "location";
  /** The `<VirtualHost>` it is in (index into the site's hosts), if any. */
  host?: number;
  /** A folder for "directory", a URL path for "location". */
  path?: string;
  settings: Settings;
}

/** An empty scope. */
export function newScope(
  kind: Scope["kind"],
  host?: number,
  path?: string,
): Scope {
  return { kind, host, path, settings: { environ: {} } };
}

/** Whether `path` is `base` or lies under it, whole segments only. */
export function isUnder(path: string, base: string): boolean {
  const trimmed = base.replace(/\/+$/, "");
  return trimmed === "" || path === trimmed || path.startsWith(trimmed + "/");
}

function depth(path: string): number {
  return path.split("/").filter(Boolean).length;
}

/**
 * The settings for a file at `file` served at URL `url` in virtual host
 * `host`, merged from every scope that holds them.
 */
export function mergedSettings(
  scopes: Scope[],
  host: number | undefined,
  file: string,
  url: string,
): Settings {
  const inHost = (scope: Scope) =>
    scope.host === undefined || scope.host === host;
  const ordered = [
    ...scopes.filter((scope) => scope.kind === "server"),
    ...scopes.filter((scope) => scope.kind === "vhost" && scope.host === host),
    ...scopes
      .filter((scope) =>
        scope.kind === "directory" && inHost(scope) &&
        isUnder(file, scope.path!)
      )
      .map((scope, order) => ({ scope, order }))
      .sort((a, b) =>
        depth(a.scope.path!) - depth(b.scope.path!) || a.order - b.order
      )
      .map(({ scope }) => scope),
    ...scopes.filter((scope) =>
      scope.kind === "location" && inHost(scope) && isUnder(url, scope.path!)
    ),
  ];
  const merged: Settings = { environ: {} };
  for (const { settings } of ordered) {
    const { environ, ...rest } = settings;
    Object.assign(merged, rest);
    Object.assign(merged.environ, environ);
  }
  return merged;
}
