/**
 * The directives of the listeners and their connections: `Listen`,
 * `Timeout`, `KeepAlive`, `KeepAliveTimeout`, `MaxRequestWorkers` and
 * `RequestReadTimeout` (mod_reqtimeout), which become the site's listeners
 * and its connection limits.
 *
 * @module
 */

import type { ConfigDirective } from "./reader.ts";
import { argumentCount, fail, warn } from "./report.ts";
import { onOff } from "./per_directory.ts";
import type { Collected } from "./to_site.ts";

/** `Listen [address:]port [protocol]`. */
function listen(node: ConfigDirective, collected: Collected) {
  argumentCount(node, 1, Infinity);
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
 * Handles a listener or connection directive of the server or of virtual
 * host `host`; false when `node` is not one.
 */
export function connectionDirective(
  node: ConfigDirective,
  host: number | undefined,
  collected: Collected,
): boolean {
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
    case "requestreadtimeout":
      argumentCount(node, 1, Infinity);
      requestReadTimeout(node, collected);
      return true;
    case "timeout":
      argumentCount(node, 1, Infinity);
      collected.connections.socketTimeout = secondsArg(node, node.args[0]);
      return true;
    case "keepalivetimeout":
      argumentCount(node, 1, Infinity);
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
      argumentCount(node, 1, Infinity);
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
    default:
      return false;
  }
}
