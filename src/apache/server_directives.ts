/**
 * The directives of the server and of a `<VirtualHost>`: listeners, mounts,
 * aliases, daemon groups, TLS, logs. And the rest: quietly accepted
 * boilerplate, or a warning that says why it is not honoured.
 *
 * @module
 */

import { resolve } from "node:path";
import { argumentCount, fail, warn } from "./report.ts";
import type { ConfigDirective } from "./reader.ts";
import type { Scope } from "./scopes.ts";
import { daemonGroup, keyValues } from "./daemon.ts";
import { onOff } from "./per_directory.ts";
import type { Collected, MountLine } from "./to_site.ts";

/** Options `WSGIScriptAlias` takes after the script path. */
const SCRIPT_OPTIONS = new Set([
  "process-group",
  "application-group",
  "callable-object",
  "pass-authorization",
]);

/** TLS settings with no counterpart: Deno's TLS defaults apply. */
const TLS_TUNING = new Set([
  "sslprotocol",
  "sslciphersuite",
  "sslhonorcipherorder",
  "sslcompression",
  "sslsessiontickets",
  "sslusestapling",
  "sslstaplingcache",
  "sslopensslconfcmd",
]);

/** At least `count` arguments. */
const take = (node: ConfigDirective, count: number) =>
  argumentCount(node, count, Infinity);

/** Adds a `WSGIDaemonProcess` group; names are unique server-wide, as in mod_wsgi. */
function addGroup(
  node: ConfigDirective,
  host: number | undefined,
  collected: Collected,
) {
  const { name, options } = daemonGroup(
    node,
    (at, directive, reason) => warn(collected, at, directive, reason),
  );
  const previous = collected.groups.get(name);
  if (previous) {
    fail(
      node,
      `WSGIDaemonProcess: name ${
        JSON.stringify(name)
      } duplicates the one at ${previous.node.file}:${previous.node.line}`,
    );
  }
  collected.groups.set(name, { options, host, node });
}

/** `Listen [address:]port [protocol]`. */
function listen(node: ConfigDirective, collected: Collected) {
  take(node, 1);
  const match = /^(?:(\[[^\]]+\]|[^:\s]+):)?(\d+)$/.exec(node.args[0]);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) {
    fail(
      node,
      `Listen: expected [address:]port, got ${JSON.stringify(node.args[0])}`,
    );
  }
  const written = match[1]?.replace(/^\[|\]$/g, "");
  // Apache's `Listen 80` binds every address.
  const hostname = written === undefined || written === "*"
    ? "0.0.0.0"
    : written;
  const twice = collected.listens.find((other) =>
    other.listener.hostname === hostname && other.listener.port === port
  );
  if (twice) {
    fail(
      node,
      `Listen: ${hostname}:${port} is already listened on (${twice.node.file}:${twice.node.line})`,
    );
  }
  collected.listens.push({
    node,
    listener: { hostname, port },
    https: node.args[1]?.toLowerCase() === "https",
  });
}

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

/** A time in seconds as Apache writes it: `60`, or `300ms` where allowed. */
function secondsArg(node: ConfigDirective, text: string, ms = false): number {
  const match = /^(\d+)(ms)?$/i.exec(text);
  if (!match || (match[2] && !ms)) {
    fail(
      node,
      `${node.name}: expected a number of seconds${
        ms ? " (or NNNms)" : ""
      }, got ${JSON.stringify(text)}`,
    );
  }
  return match[2] ? Number(match[1]) / 1000 : Number(match[1]);
}

/**
 * `RequestReadTimeout header=15-30,MinRate=500 body=20,MinRate=500`
 * (mod_reqtimeout; what mod_wsgi-express's `--header-timeout` and
 * `--body-timeout` write): header='s first time becomes headerTimeout (its
 * extension with MinRate needs byte counts the server does not see), body=
 * every mount's bodyTimeout and bodyMinRate (its maximum is warned).
 */
function requestReadTimeout(node: ConfigDirective, collected: Collected) {
  for (const arg of node.args) {
    const match =
      /^(handshake|header|body)=(\d+)(?:-(\d+))?(?:,minrate=(\d+))?$/i
        .exec(arg);
    if (!match) {
      fail(
        node,
        `RequestReadTimeout: expected header=, body= or handshake= with seconds[-max][,MinRate=bytes], got ${
          JSON.stringify(arg)
        }`,
      );
    }
    const [, phase, timeout, max, rate] = match;
    const name = `RequestReadTimeout ${phase.toLowerCase()}=`;
    if (phase.toLowerCase() === "header") {
      collected.connections.headerTimeout = Number(timeout);
      if (max !== undefined) {
        warn(
          collected,
          node,
          name,
          `the head must be complete within ${timeout} s; the extension up to ${max} s with MinRate is not emulated`,
        );
      }
    } else if (phase.toLowerCase() === "body") {
      if (max !== undefined) {
        warn(
          collected,
          node,
          name,
          `the maximum (${max} s) is not honoured: the body gets ${timeout} s plus 1 s per MinRate bytes, without a cap`,
        );
      }
      collected.bodyTimeout = {
        timeout: Number(timeout),
        minRate: rate === undefined ? undefined : Number(rate),
        node,
      };
    } else {
      warn(
        collected,
        node,
        name,
        "TLS handshakes have no timeout of their own here",
      );
    }
  }
}

/**
 * Handles a server or virtual-host directive; false when `node` is not one.
 */
export function serverDirective(
  node: ConfigDirective,
  place: { scope: Scope; host?: number },
  collected: Collected,
): boolean {
  const host = place.host;
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
    case "listen":
      if (host !== undefined) {
        fail(
          node,
          "Listen is not allowed inside <VirtualHost> (Apache refuses it too)",
        );
      }
      listen(node, collected);
      return true;
    case "servername":
      take(node, 1);
      // "https://name:port" and "name:port" both name the host first.
      {
        const name = node.args[0].replace(/^\w+:\/\//, "").replace(/:\d+$/, "");
        if (hostOrServer) hostOrServer.serverName = name;
        else collected.serverName = name;
      }
      return true;
    case "wsgiscriptalias": {
      take(node, 2);
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
      take(node, 2);
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
      take(node, 2);
      return serving(collected.aliases, line(node.args[0], node.args[1]));
    case "aliasmatch": {
      take(node, 2);
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
      take(node, 1);
      collected.documentRoots.push(line("/", node.args[0]));
      return true;
    case "wsgidaemonprocess":
      addGroup(node, host, collected);
      return true;
    case "wsgipythonhome":
    case "wsgipythonpath":
      if (host !== undefined) {
        fail(
          node,
          `${node.name} is allowed at server level only, not inside <VirtualHost> (Apache refuses it too)`,
        );
      }
      take(node, 1);
      if (node.key === "wsgipythonhome") collected.pythonHome = node;
      else collected.pythonPath = node;
      return true;
    case "wsgiimportscript":
      take(node, 1);
      collected.imports.push({ node, host });
      return true;
    case "sslengine": {
      const tls = hostOrServer?.tls ?? collected.serverTls;
      if (onOff(node)) tls.engine = node;
      else delete tls.engine;
      return true;
    }
    case "sslcertificatefile":
    case "sslcertificatekeyfile": {
      take(node, 1);
      const tls = hostOrServer?.tls ?? collected.serverTls;
      const file = resolve(node.base, node.args[0]);
      if (node.key === "sslcertificatefile") tls.certFile = file;
      else tls.keyFile = file;
      return true;
    }
    case "sslcertificatechainfile":
      warn(
        collected,
        node,
        node.name,
        "append the chain to the SSLCertificateFile (a PEM file may hold the whole chain, as Apache 2.4.8+ reads it too)",
      );
      return true;
    case "sslcacertificatefile":
    case "sslcacertificatepath":
    case "sslverifyclient":
    case "sslverifydepth":
      warn(
        collected,
        node,
        node.name,
        "client certificates are not checked here",
      );
      return true;
    case "errorlog":
      take(node, 1);
      if (collected.errorLog && collected.errorLog.args[0] !== node.args[0]) {
        warn(
          collected,
          node,
          "ErrorLog",
          `one error log per site: ${
            collected.errorLog.args[0]
          } (from ${collected.errorLog.file}:${collected.errorLog.line}) is used`,
        );
      } else {
        collected.errorLog = node;
      }
      return true;
    case "loglevel":
      take(node, 1);
      collected.logLevel = node;
      return true;
    case "requestreadtimeout":
      take(node, 1);
      requestReadTimeout(node, collected);
      return true;
    case "customlog":
    case "transferlog":
      take(node, 1);
      collected.customLogs.push(node);
      return true;
    case "timeout":
      take(node, 1);
      collected.connections.socketTimeout = secondsArg(node, node.args[0]);
      return true;
    case "keepalivetimeout":
      take(node, 1);
      collected.connections.keepAliveTimeout = secondsArg(
        node,
        node.args[0],
        true,
      );
      return true;
    case "keepalive":
      if (!onOff(node)) collected.connections.keepAliveTimeout = 0;
      return true;
    case "maxrequestworkers":
    case "maxclients": {
      take(node, 1);
      const value = Number(node.args[0]);
      if (!/^\d+$/.test(node.args[0]) || value < 1) {
        fail(
          node,
          `${node.name}: expected a whole number of 1 or more, got ${
            JSON.stringify(node.args[0])
          }`,
        );
      }
      collected.connections.maxClients = value;
      return true;
    }
    case "logformat":
      if (node.args.length === 2) {
        collected.logFormats.set(node.args[1], node.args[0]);
      }
      return true;
    default:
      if (TLS_TUNING.has(node.key)) {
        warn(
          collected,
          node,
          node.name,
          "Deno's TLS settings apply (TLS 1.2 and 1.3 with its cipher suites)",
        );
        return true;
      }
      return false;
  }
}
