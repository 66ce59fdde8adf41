/**
 * The options of `mountWsgi()` (mod_wsgi's per-script directives), checked
 * with messages that name the option; the group is resolved by the caller.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { checkOptionNames, fail, flag, folders } from "./option_checks.ts";
import { type ProxyTrust, resolveProxyTrust } from "./proxy_headers.ts";
import { log } from "./logging.ts";
import type { ProcessGroup } from "./groups.ts";

/** mod_wsgi-express's `--limit-request-body` default: 10 MiB. */
export const DEFAULT_LIMIT_REQUEST_BODY = 10485760;

/**
 * Options of `mountWsgi()`: mod_wsgi's per-script directives.
 *
 * @example `WSGIScriptAlias`, `WSGIProcessGroup`, `WSGIApplicationGroup`, `SetEnv`
 * ```ts
 * import { createRouter, defineGroup, type MountOptions, mountWsgi } from "../mod.ts";
 * const group = defineGroup("options-example", { processes: 1 });
 * const options: MountOptions = {
 *   group,
 *   applicationGroup: "%{GLOBAL}",
 *   environ: { DATABASE_URL: "postgresql+pg8000://app@127.0.0.1/app" },
 *   passAuthorization: true,
 * };
 * mountWsgi(createRouter(), "/app", "./examples/hello/app.wsgi", options);
 * await group.shutdown();
 * ```
 */
export interface MountOptions {
  /**
   * The process group the script runs in (`WSGIProcessGroup`): a name given
   * to `defineGroup()`, or the group itself. Default: the "default" group,
   * one Web Worker.
   */
  group?: string | ProcessGroup;
  /**
   * The interpreter the script runs in (`WSGIApplicationGroup`). By default
   * every mount has its own; mounts naming the same application group share
   * one interpreter per worker; "%{GLOBAL}" is the worker's main one.
   */
  applicationGroup?: string;
  /** Name of the WSGI callable in the script (`WSGICallableObject`). Default "application". */
  callable?: string;
  /** Extra folders for this mount's `sys.path`, e.g. a site-packages. */
  pythonPath?: string[];
  /**
   * Pass the Authorization header to the app as HTTP_AUTHORIZATION
   * (`WSGIPassAuthorization`). Default false, as in mod_wsgi, so that
   * credentials meant for the server never reach the app unless asked.
   */
  passAuthorization?: boolean;
  /** Extra environ keys for every request (Apache's `SetEnv`). */
  environ?: Record<string, string>;
  /**
   * Restart the group gracefully when the script file's modification time
   * changes, so `touch app.wsgi` reloads the app (`WSGIScriptReloading`,
   * daemon mode). Checked on every request, as mod_wsgi does. Default true.
   */
  reload?: boolean;
  /**
   * The largest request body in bytes (Apache's `LimitRequestBody`): a
   * larger Content-Length gets 413 before the app is called; a chunked
   * body that grows past it fails the app's next read with OSError, and
   * the client gets 413 unless the response had started. 0 = no limit.
   * Default 10485760 (10 MiB), as mod_wsgi-express.
   */
  limitRequestBody?: number;
  /**
   * Proxy headers believed from `trustedProxies` (`WSGITrustedProxyHeaders`),
   * one per purpose: client address (`X-Forwarded-For`, `X-Client-IP`,
   * `X-Real-IP`) sets REMOTE_ADDR; scheme (`X-Forwarded-Proto`,
   * `X-Forwarded-Scheme`, `X-Scheme`, `X-Forwarded-HTTPS`, `X-Forwarded-SSL`,
   * `X-HTTPS`) sets wsgi.url_scheme; host (`X-Forwarded-Host`, `X-Host`)
   * sets HTTP_HOST; `X-Forwarded-Port` sets SERVER_PORT;
   * `X-Forwarded-Server` sets SERVER_NAME; `X-Script-Name` or
   * `X-Forwarded-Script-Name` sets SCRIPT_NAME. Headers of those purposes
   * are dropped from the environ when they come from anyone else.
   */
  trustedProxyHeaders?: string[];
  /**
   * Addresses or CIDR ranges of the proxies whose `trustedProxyHeaders` are
   * believed (`WSGITrustedProxies`), e.g. `["127.0.0.1", "10.0.0.0/8"]`.
   * Default: none, so no client can spoof them.
   */
  trustedProxies?: string[];
}

/** mountWsgi()'s options, validated, except `group` (groups.ts resolves it). */
export interface MountSettings {
  /** Absolute path of the WSGI script. */
  scriptPath: string;
  callable: string;
  applicationGroup: string;
  pythonPath: string[];
  passAuthorization: boolean;
  environ: Record<string, string>;
  reload: boolean;
  /** Bytes; 0 = no limit. */
  limitRequestBody: number;
  /** Undefined when no proxy header is trusted. */
  proxyTrust?: ProxyTrust;
}

const MOUNT_OPTION_NAMES = [
  "group",
  "applicationGroup",
  "callable",
  "pythonPath",
  "passAuthorization",
  "environ",
  "reload",
  "limitRequestBody",
  "trustedProxyHeaders",
  "trustedProxies",
];

/** Checks the script path and the options of `mountWsgi()`. */
export function resolveMountOptions(
  where: string,
  scriptPath: unknown,
  options: unknown,
): MountSettings {
  if (typeof scriptPath !== "string" || scriptPath === "") {
    throw new TypeError(`${where}: the script path must be a non-empty string`);
  }
  const raw = checkOptionNames(options, { where, names: MOUNT_OPTION_NAMES });

  const absolute = isAbsolute(scriptPath) ? scriptPath : resolve(scriptPath);
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(absolute);
  } catch (error) {
    throw new Error(
      `${where}: the WSGI script ${absolute} cannot be read (${
        (error as Error).message
      }); check the path`,
    );
  }
  if (!info.isFile) {
    throw new Error(`${where}: the WSGI script ${absolute} is not a file`);
  }
  const callable = raw.callable ?? "application";
  if (typeof callable !== "string" || !/^[A-Za-z_]\w*$/.test(callable)) {
    throw fail(where, "callable", "a Python identifier", callable);
  }
  const applicationGroup = raw.applicationGroup ?? "";
  if (typeof applicationGroup !== "string") {
    throw fail(
      where,
      "applicationGroup",
      'a string such as "%{GLOBAL}"',
      applicationGroup,
    );
  }
  return {
    scriptPath: absolute,
    callable,
    applicationGroup,
    pythonPath: folders(where, "pythonPath", raw.pythonPath),
    passAuthorization: flag(where, raw, "passAuthorization", false),
    environ: environOption(where, raw.environ),
    reload: flag(where, raw, "reload", true),
    limitRequestBody: byteLimit(where, raw.limitRequestBody),
    proxyTrust: proxyOptions(where, raw),
  };
}

/** Checks `limitRequestBody`: a whole number of bytes, 0 for none. */
function byteLimit(where: string, value: unknown): number {
  const limit = value ?? DEFAULT_LIMIT_REQUEST_BODY;
  if (typeof limit !== "number" || Number.isNaN(limit)) {
    throw fail(where, "limitRequestBody", "a number of bytes >= 0", limit);
  }
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(
      `${where}: option "limitRequestBody" must be a whole number of bytes >= 0 (0 = no limit), got ${limit}`,
    );
  }
  return limit;
}

function proxyOptions(
  where: string,
  raw: Record<string, unknown>,
): ProxyTrust | undefined {
  const trust = resolveProxyTrust(
    where,
    raw.trustedProxyHeaders,
    raw.trustedProxies,
  );
  if (trust && raw.trustedProxies === undefined) {
    // mod_wsgi would trust every peer here; that lets any client spoof them.
    log(
      "warn",
      `${where}: trustedProxyHeaders without trustedProxies trusts no proxy, so those headers are dropped; list your proxies' addresses in trustedProxies`,
    );
  }
  return trust;
}

/** Checks `environ`: string keys and values without NUL, like SetEnv. */
function environOption(where: string, value: unknown): Record<string, string> {
  const environ = value ?? {};
  if (
    typeof environ !== "object" || environ === null ||
    Object.entries(environ).some(([key, value]) =>
      typeof value !== "string" || key === ""
    )
  ) {
    throw new TypeError(
      `${where}: option "environ" must be an object of string values, like Apache's SetEnv`,
    );
  }
  for (
    const [key, value] of Object.entries(environ as Record<string, string>)
  ) {
    if (key.includes("\0") || value.includes("\0")) {
      throw new TypeError(
        `${where}: option "environ" has a NUL character in ${
          JSON.stringify(key)
        }; remove it (environ keys and values cannot hold NUL)`,
      );
    }
  }
  return { ...environ as Record<string, string> };
}
