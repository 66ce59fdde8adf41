/**
 * The directives of the server and of a `<VirtualHost>`: this module reads
 * the host's name, the daemon groups and Python settings, TLS and logs, and
 * hands mounts and aliases to mount_directives.ts, listeners and
 * connection limits to connection_directives.ts. What is none of these is
 * to_site.ts's next question (directives.ts).
 *
 * @module
 */

import { resolve } from "node:path";
import { argumentCount, fail, warn } from "./report.ts";
import type { ConfigDirective } from "./reader.ts";
import type { Scope } from "./scopes.ts";
import { daemonGroup } from "./daemon.ts";
import { onOff } from "./per_directory.ts";
import type { Collected } from "./to_site.ts";
import { mountDirective } from "./mount_directives.ts";
import { connectionDirective } from "./connection_directives.ts";

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
  if (mountDirective(node, host, collected)) return true;
  if (connectionDirective(node, host, collected)) return true;
  switch (node.key) {
    case "servername":
      argumentCount(node, 1, Infinity);
      // "https://name:port" and "name:port" both name the host first.
      {
        const name = node.args[0].replace(/^\w+:\/\//, "").replace(/:\d+$/, "");
        if (hostOrServer) hostOrServer.serverName = name;
        else collected.serverName = name;
      }
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
      argumentCount(node, 1, Infinity);
      if (node.key === "wsgipythonhome") collected.pythonHome = node;
      else collected.pythonPath = node;
      return true;
    case "wsgiimportscript":
      argumentCount(node, 1, Infinity);
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
      argumentCount(node, 1, Infinity);
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
      argumentCount(node, 1, Infinity);
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
      argumentCount(node, 1, Infinity);
      collected.logLevel = node;
      return true;
    case "customlog":
    case "transferlog":
      argumentCount(node, 1, Infinity);
      collected.customLogs.push(node);
      return true;
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
