/**
 * The directives that may stand in a `<Directory>` or `<Location>` (and at
 * server or virtual-host level, for everything under it): they are written
 * into the current scope and merged per script later (scopes.ts).
 *
 * @module
 */

import type { ConfigDirective } from "./reader.ts";
import { argumentCount, fail } from "./report.ts";
import type { Scope } from "./scopes.ts";
import type { Collected } from "./to_site.ts";

/** Largest LimitRequestBody Apache accepts (2 GiB). */
const MAX_BODY = 2147483647;

/** On/Off, as Apache's flag directives spell it. */
export function onOff(node: ConfigDirective): boolean {
  argumentCount(node, 1);
  const value = node.args[0].toLowerCase();
  if (value !== "on" && value !== "off") {
    fail(
      node,
      `${node.name} takes On or Off, got ${JSON.stringify(node.args[0])}`,
    );
  }
  return value === "on";
}

function access(node: ConfigDirective): "granted" | "denied" | "restricted" {
  const words = node.args.join(" ").toLowerCase();
  if (node.key === "require") {
    if (words === "all granted") return "granted";
    if (words === "all denied") return "denied";
    return "restricted";
  }
  if (words === "from all") return node.key === "allow" ? "granted" : "denied";
  return "restricted";
}

/**
 * Writes a per-directory directive into `scope`; false when `node` is not
 * one (the caller then tries the server-level ones).
 */
export function perDirectory(
  node: ConfigDirective,
  scope: Scope,
  collected: Collected,
): boolean {
  const settings = scope.settings;
  switch (node.key) {
    case "wsgiprocessgroup":
      argumentCount(node, 1);
      settings.processGroup = { value: node.args[0], node };
      return true;
    case "wsgiapplicationgroup":
      argumentCount(node, 1);
      settings.applicationGroup = { value: node.args[0], node };
      return true;
    case "wsgicallableobject":
      argumentCount(node, 1);
      if (!/^[A-Za-z_]\w*$/.test(node.args[0])) {
        fail(
          node,
          `WSGICallableObject: ${
            JSON.stringify(node.args[0])
          } is not a Python name`,
        );
      }
      settings.callable = { value: node.args[0], node };
      return true;
    case "wsgipassauthorization":
      settings.passAuthorization = { value: onOff(node), node };
      return true;
    case "wsgiscriptreloading":
      settings.reload = { value: onOff(node), node };
      return true;
    case "wsgichunkedrequest":
      settings.chunkedRequest = { value: onOff(node), node };
      return true;
    case "wsgitrustedproxyheaders":
      argumentCount(node, 1, Infinity);
      settings.trustedProxyHeaders = { value: node.args, node };
      return true;
    case "wsgitrustedproxies":
      argumentCount(node, 1, Infinity);
      settings.trustedProxies = { value: node.args, node };
      return true;
    case "limitrequestbody": {
      argumentCount(node, 1);
      const bytes = Number(node.args[0]);
      if (!/^\d+$/.test(node.args[0]) || bytes > MAX_BODY) {
        fail(
          node,
          `LimitRequestBody takes a number of bytes from 0 to ${MAX_BODY}, got ${
            JSON.stringify(node.args[0])
          }`,
        );
      }
      settings.limitRequestBody = { value: bytes, node };
      return true;
    }
    case "setenv":
      argumentCount(node, 1, 2);
      settings.environ[node.args[0]] = node.args[1] ?? "";
      return true;
    case "unsetenv":
      argumentCount(node, 1, Infinity);
      for (const name of node.args) settings.environ[name] = null;
      return true;
    case "passenv":
      argumentCount(node, 1, Infinity);
      for (const name of node.args) {
        const value = collected.env(name);
        if (value === undefined) {
          collected.warnings.push({
            file: node.file,
            line: node.line,
            directive: `PassEnv ${name}`,
            reason:
              "not set in the server's environment; passed as nothing, as Apache does",
          });
        } else {
          settings.environ[name] = value;
        }
      }
      return true;
    case "require":
    case "allow":
    case "deny":
      argumentCount(node, 1, Infinity);
      settings.access = { value: access(node), node };
      return true;
    case "satisfy":
      return true;
    case "options":
      for (const word of node.args.map((arg) => arg.toLowerCase())) {
        if (word === "indexes" || word === "+indexes" || word === "all") {
          settings.indexes = { value: true, node };
        } else if (word === "-indexes" || word === "none") {
          settings.indexes = { value: false, node };
        }
      }
      return true;
    case "sethandler":
      argumentCount(node, 1);
      if (
        node.args[0].toLowerCase() === "server-status" &&
        scope.kind === "location"
      ) {
        collected.statusPages.push({
          path: scope.path!,
          host: scope.host,
          scope,
          node,
        });
      } else if (node.args[0].toLowerCase() !== "none") {
        collected.warnings.push({
          file: node.file,
          line: node.line,
          directive: `SetHandler ${node.args[0]}`,
          reason: node.args[0].toLowerCase() === "wsgi-script"
            ? "scripts served by handler are not emulated: mount each one with WSGIScriptAlias"
            : "handlers are not emulated; ignored",
        });
      }
      return true;
    default:
      return false;
  }
}
