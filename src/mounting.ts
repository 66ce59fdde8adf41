/**
 * mountWsgi(): a WSGI script at a URL prefix, and how a request under it is
 * turned into a CGI environ, handed to its group, and answered (the table
 * that routes requests to it is dispatch.ts's).
 *
 * @module
 */

import type { MountSpec } from "./config.ts";
import { type MountOptions, resolveMountOptions } from "./mount_options.ts";
import { checkRouter, normalizePrefix, register } from "./dispatch.ts";
import {
  buildCgiVariables,
  type ConnectionInfo,
  packEnviron,
} from "./environ.ts";
import type { RequestTarget } from "./url_path.ts";
import {
  DEFAULT_GROUP,
  poolNamed,
  poolOf,
  type ProcessGroup,
} from "./groups.ts";
import { type Exchange, GatewayError, type Pool } from "./pools.ts";
import { log } from "./logging.ts";
import { buildResponse, errorResponse } from "./responses.ts";
import type { RouterLike } from "./router.ts";
import type { BodyError, BodySettings } from "./body_limits.ts";
import { type TakenBody, takeRequestBody } from "./request_body.ts";
import { applyProxyHeaders, type ProxyTrust } from "./proxy_headers.ts";

/**
 * A mounted WSGI script.
 *
 * @example Report a script that fails to load, and keep serving
 * ```ts
 * import { createRouter, defineGroup, mountWsgi, type WsgiMount } from "../mod.ts";
 * const group = defineGroup("ready-example", { processes: 0 });
 * const mount: WsgiMount = mountWsgi(createRouter(), "/", "./examples/hello/app.wsgi", { group });
 * await mount.ready().catch((error) => console.error(error.message));
 * await group.shutdown();
 * ```
 */
export interface WsgiMount {
  /** The URL prefix, "" for "/". */
  readonly prefix: string;
  /** Absolute path of the script. */
  readonly scriptPath: string;
  /** The group that runs it. */
  readonly group: ProcessGroup;
  /**
   * Resolves when the group's workers have started and loaded this script;
   * rejects when the script failed to load (the traceback is in the log).
   * Either way the server keeps serving, and a failed script is loaded
   * again on a later request.
   */
  ready(): Promise<void>;
}

/** What a mount knows to serve a request. */
interface MountEntry {
  prefix: string;
  spec: MountSpec;
  group: Pool;
  passAuthorization: boolean;
  environ: Record<string, string>;
  reload: boolean;
  modified?: number;
  body: BodySettings;
  proxyTrust?: ProxyTrust;
}

let mountCount = 0;

function modificationTime(path: string): number | undefined {
  try {
    return Deno.statSync(path).mtime?.getTime();
  } catch {
    return undefined;
  }
}

function reloadIfTouched(entry: MountEntry): void {
  const modified = modificationTime(entry.spec.scriptPath);
  if (modified === undefined || modified === entry.modified) return;
  entry.modified = modified;
  log(
    "info",
    `WSGI script ${entry.spec.scriptPath} changed; restarting group "${entry.group.config.name}"`,
    { mount: entry.prefix, group: entry.group.config.name },
  );
  entry.group.restart().catch((error) =>
    log("error", `restart failed: ${error?.message ?? error}`, {
      group: entry.group.config.name,
    })
  );
}

/**
 * Hands a request to its mount's group once its body is in (unless the
 * mount streams bodies); rejects with BadHeaderError before that.
 */
async function serveMount(
  entry: MountEntry,
  request: Request,
  target: RequestTarget,
  info?: ConnectionInfo,
): Promise<Response> {
  const { spec, group } = entry;
  const limit = entry.body.limit;
  if (limit > 0 && Number(request.headers.get("content-length")) > limit) {
    return errorResponse(413, { method: request.method });
  }
  if (entry.reload) reloadIfTouched(entry);
  const variables = buildCgiVariables(
    request,
    target,
    target.path.slice(entry.prefix.length),
    { scriptName: entry.prefix },
    info,
  );
  const cgi: Record<string, string> = { ...entry.environ, ...variables };
  if (!entry.passAuthorization) delete cgi.HTTP_AUTHORIZATION;
  if (spec.applicationGroup === "") {
    // mod_wsgi names a mount's own interpreter after host, port and prefix.
    const port = cgi.SERVER_PORT === "80" || cgi.SERVER_PORT === "443"
      ? ""
      : `:${cgi.SERVER_PORT}`;
    cgi["mod_wsgi.application_group"] =
      `${cgi.SERVER_NAME}${port}|${spec.prefix}`;
  }
  if (entry.proxyTrust) {
    applyProxyHeaders(cgi, entry.proxyTrust, info?.remoteAddr?.hostname);
  }
  let streamFailure: BodyError | undefined;
  let taken: TakenBody;
  try {
    taken = await takeRequestBody(
      request,
      entry.body,
      (error) => streamFailure = error,
    );
  } catch (error) {
    const status = (error as BodyError).status;
    if (status === undefined) throw error;
    log("info", (error as Error).message, {
      mount: entry.prefix,
      group: group.config.name,
    });
    // The rest of the body is unread: the connection cannot carry another.
    return errorResponse(status, {
      method: request.method,
      headers: { connection: "close" },
    });
  }
  // A buffered chunked body has a length now; apps such as Django read
  // nothing without one (nginx sets it too when it buffers).
  if (taken.length !== undefined) cgi.CONTENT_LENGTH = String(taken.length);
  return answer(
    entry,
    request.method,
    () =>
      group.handle(spec, packEnviron(cgi), () => Promise.resolve(taken.body)),
    () => streamFailure?.status,
    taken.release,
  );
}

/** Turns what the pool gives back into a Response, errors included. */
async function answer(
  entry: MountEntry,
  method: string,
  run: () => Promise<Exchange>,
  bodyFailure: () => number | undefined,
  release: () => void,
): Promise<Response> {
  const where = { mount: entry.prefix, group: entry.group.config.name };
  let exchange: Exchange;
  try {
    exchange = await run();
  } catch (error) {
    release();
    if (error instanceof GatewayError) {
      const headers: Record<string, string> = error.retryAfter === undefined
        ? {}
        : { "retry-after": String(error.retryAfter) };
      return errorResponse(error.status, { headers, method });
    }
    log("error", `gateway error: ${(error as Error)?.stack ?? error}`, where);
    return errorResponse(500, { method });
  }
  const failed = bodyFailure();
  if (failed !== undefined) {
    // Nothing was sent yet: the client learns why, whatever the app said.
    exchange.head.lent?.release();
    if (!exchange.head.done) exchange.cancel();
    exchange.done();
    release();
    return errorResponse(failed, { method });
  }
  const done = exchange.done;
  try {
    return buildResponse(exchange.head, exchange, {
      method,
      ...where,
      onDone: () => {
        release();
        done();
      },
    });
  } catch (error) {
    release();
    // Deno refused the head: the iterable must still be closed, or the
    // worker keeps it open and its next request waits behind it.
    if (!exchange.head.done) exchange.cancel();
    exchange.done();
    log("error", `the response could not be built: ${error}`, where);
    return errorResponse(500, { method });
  }
}

/**
 * Mounts a WSGI script at a URL prefix: mod_wsgi's `WSGIScriptAlias`. The
 * prefix matches whole path segments (`/myapp` and `/myapp/...`, never
 * `/myappx`); `/` mounts at the root. Missing files and bad options throw
 * here, at once; a script that fails inside Python logs its traceback and
 * answers 500.
 *
 * @example A WSGI app beside TypeScript routes in Hono
 * ```ts
 * import { Hono } from "hono";
 * import { defineGroup, mountWsgi } from "../mod.ts";
 * const app = new Hono();
 * app.get("/api/ping", (c) => c.text("pong"));
 * // processes: 0 runs Python embedded in this isolate.
 * const group = defineGroup("hello-example", { processes: 0 });
 * const mount = mountWsgi(app, "/myapp", "./examples/hello/app.wsgi", { group });
 * await mount.ready();
 * const response = await app.fetch(new Request("http://localhost/myapp/"));
 * if (response.status !== 200) throw new Error(`status ${response.status}`);
 * await response.body?.cancel();
 * await group.shutdown();
 * ```
 */
export function mountWsgi(
  router: RouterLike,
  prefix: string,
  scriptPath: string,
  options: MountOptions = {},
): WsgiMount {
  const where = `mountWsgi(${JSON.stringify(prefix)})`;
  const checkedRouter = checkRouter(where, router);
  const normalized = normalizePrefix(where, prefix);
  const settings = resolveMountOptions(where, scriptPath, options);
  const groupOption = options.group ?? DEFAULT_GROUP;
  let group: Pool | undefined;
  if (typeof groupOption === "string") {
    group = poolNamed(groupOption);
    if (!group) {
      throw new Error(
        `${where}: option "group" names "${groupOption}", which is not defined; call defineGroup("${groupOption}", {...}) first`,
      );
    }
  } else {
    group = groupOption && typeof groupOption === "object"
      ? poolOf(groupOption)
      : undefined;
    if (!group) {
      throw new TypeError(
        `${where}: option "group" must be a group name or the object defineGroup() returned (and not shut down)`,
      );
    }
  }
  const spec: MountSpec = {
    id: `m${++mountCount}`,
    prefix: normalized,
    scriptPath: settings.scriptPath,
    callable: settings.callable,
    applicationGroup: settings.applicationGroup,
    pythonPath: settings.pythonPath,
    group: group.config.name,
    multiprocess: group.config.processes > 1,
    multithread: group.config.threads > 1,
  };
  group.attach(spec);
  const entry: MountEntry = {
    prefix: normalized,
    spec,
    group,
    passAuthorization: settings.passAuthorization,
    environ: settings.environ,
    reload: settings.reload,
    modified: modificationTime(settings.scriptPath),
    body: settings.body,
    proxyTrust: settings.proxyTrust,
  };
  register(checkedRouter, {
    kind: "mount",
    prefix: normalized,
    serve: (request, target, info) => serveMount(entry, request, target, info),
  });
  const mountedGroup = group;
  return {
    prefix: normalized,
    scriptPath: settings.scriptPath,
    group: mountedGroup,
    ready: () => mountedGroup.mountReady(spec),
  };
}
