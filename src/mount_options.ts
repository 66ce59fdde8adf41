/**
 * The options of `mountWsgi()` (mod_wsgi's per-script directives), checked
 * with messages that name the option; the group is resolved by the caller.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import {
  checkOptionNames,
  fail,
  flag,
  folder,
  folders,
  outOfRange,
  seconds,
} from "./option_checks.ts";
import type { BodySettings } from "./body_limits.ts";
import { type ProxyTrust, resolveProxyTrust } from "./proxy_headers.ts";
import { log } from "./logging.ts";
import type { ProcessGroup } from "./groups.ts";

/** mod_wsgi-express's `--limit-request-body` default: 10 MiB. */
export const DEFAULT_LIMIT_REQUEST_BODY = 10485760;

/** Request bodies up to this many bytes are buffered in memory, larger ones in a file. */
export const DEFAULT_BODY_BUFFER_SIZE = 1048576;

/** mod_wsgi-express's `--body-timeout` default, in seconds. */
export const DEFAULT_BODY_TIMEOUT = 15;

/** mod_wsgi-express's `--body-min-rate` default, in bytes per second. */
export const DEFAULT_BODY_MIN_RATE = 500;

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
   * Read each request body whole before the request waits for a worker
   * (nginx's `proxy_request_buffering`), so that a slow or stalled upload
   * costs a connection, never a worker: in memory up to `bodyBufferSize`,
   * in a temporary file beyond it. A chunked body then reaches the app
   * with CONTENT_LENGTH set. `false` streams the body into Python as the
   * app reads it (uploads the app must see as they come). Default true.
   */
  requestBuffering?: boolean;
  /**
   * Bytes of a buffered body held in memory; a larger body goes to a
   * temporary file, deleted when the request is over (nginx's
   * `client_body_buffer_size`). Default 1048576 (1 MiB).
   */
  bodyBufferSize?: number;
  /**
   * The folder for those files. Default: the system's temporary folder.
   * Where the server may not write it (no `--allow-write`), bodies stay in
   * memory up to `limitRequestBody`, and the log says so once.
   */
  bodyBufferFolder?: string;
  /**
   * Seconds a request body may take from its first byte, extended by one
   * second per `bodyMinRate` bytes received (mod_wsgi-express's
   * `--body-timeout`, Apache's `RequestReadTimeout body=15,MinRate=500`).
   * Past it the client gets 408 (with `Connection: close`); the app is
   * never called (with `requestBuffering: false`, its read raises OSError).
   * 0 = no limit. Default 15.
   */
  bodyTimeout?: number;
  /**
   * Bytes per second that earn a body one more second of `bodyTimeout`
   * (mod_wsgi-express's `--body-min-rate`); 0 makes `bodyTimeout` a hard
   * limit on the whole body. Default 500.
   */
  bodyMinRate?: number;
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
  /** How request bodies are read: limit, buffering, timeout. */
  body: BodySettings;
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
  "requestBuffering",
  "bodyBufferSize",
  "bodyBufferFolder",
  "bodyTimeout",
  "bodyMinRate",
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
    body: bodySettings(where, raw),
    proxyTrust: proxyOptions(where, raw),
  };
}

/** Checks a whole number of bytes >= 0, such as `limitRequestBody`. */
function bytes(
  where: string,
  option: string,
  value: unknown,
  fallback: number,
  zero: string,
): number {
  const limit = value ?? fallback;
  if (typeof limit !== "number" || Number.isNaN(limit)) {
    throw fail(where, option, "a number of bytes >= 0", limit);
  }
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw outOfRange(
      where,
      option,
      `a whole number of bytes >= 0 (0 = ${zero})`,
      limit,
    );
  }
  return limit;
}

/** Checks the options of how request bodies are read. */
function bodySettings(
  where: string,
  raw: Record<string, unknown>,
): BodySettings {
  const place = raw.bodyBufferFolder;
  if (place !== undefined && (typeof place !== "string" || place === "")) {
    throw fail(where, "bodyBufferFolder", "a folder path", place);
  }
  const minRate = raw.bodyMinRate ?? DEFAULT_BODY_MIN_RATE;
  if (typeof minRate !== "number" || Number.isNaN(minRate)) {
    throw fail(where, "bodyMinRate", "a number of bytes per second", minRate);
  }
  if (!Number.isFinite(minRate) || minRate < 0) {
    throw outOfRange(where, "bodyMinRate", "bytes per second >= 0", minRate);
  }
  return {
    limit: bytes(
      where,
      "limitRequestBody",
      raw.limitRequestBody,
      DEFAULT_LIMIT_REQUEST_BODY,
      "no limit",
    ),
    buffering: flag(where, raw, "requestBuffering", true),
    bufferSize: bytes(
      where,
      "bodyBufferSize",
      raw.bodyBufferSize,
      DEFAULT_BODY_BUFFER_SIZE,
      "every body in a file",
    ),
    folder: place === undefined
      ? undefined
      : folder(where, "bodyBufferFolder", place as string),
    timeout: seconds(where, raw, "bodyTimeout", DEFAULT_BODY_TIMEOUT),
    minRate,
  };
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
