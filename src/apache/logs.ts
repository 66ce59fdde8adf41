/**
 * The logs and the status page of a site read from Apache: `ErrorLog`,
 * `LogLevel` (Apache's names mapped to ours), `CustomLog`/`TransferLog`
 * with `LogFormat` nicknames, and a `<Location>` with
 * `SetHandler server-status` and the `Require` that guards it.
 *
 * @module
 */

import { resolve } from "node:path";
import type { SiteConfig } from "../site.ts";
import { logLevelOf } from "./directives.ts";
import type { Collected } from "./to_site.ts";
import { fail, warn } from "./report.ts";

const COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"';

/** The status page, from the first `SetHandler server-status`. */
export function serverStatus(collected: Collected): SiteConfig["serverStatus"] {
  const page = collected.statusPages[0];
  if (!page) return undefined;
  const access = page.scope.settings.access;
  if (!access || access.value === "granted") {
    return { path: page.path, allow: ["0.0.0.0/0", "::/0"] };
  }
  const [kind, ...values] = access.node.key === "require"
    ? access.node.args
    : ["ip", ...access.node.args.slice(1)];
  if (access.value === "restricted" && kind.toLowerCase() === "local") {
    return { path: page.path, allow: ["127.0.0.0/8", "::1"] };
  }
  if (access.value === "restricted" && kind.toLowerCase() === "ip") {
    return { path: page.path, allow: values.map(cidrOf) };
  }
  warn(
    collected,
    access.node,
    `${access.node.name} ${access.node.args.join(" ")}`,
    "the status page takes only Require ip/local (or Allow from addresses); it answers loopback clients only",
  );
  return { path: page.path };
}

/** Apache's partial addresses ("10.1") as CIDR ranges ("10.1.0.0/16"). */
function cidrOf(address: string): string {
  if (address.includes("/") || address.includes(":")) return address;
  const parts = address.split(".").filter(Boolean);
  if (parts.length >= 4) return address;
  return `${[...parts, "0", "0", "0"].slice(0, 4).join(".")}/${
    parts.length * 8
  }`;
}

/** The error log, its level and the access log. */
export function logs(collected: Collected, site: SiteConfig) {
  const error = collected.errorLog;
  if (error) {
    const target = error.args[0];
    if (target.startsWith("|") || target.toLowerCase().startsWith("syslog")) {
      warn(
        collected,
        error,
        "ErrorLog",
        "piped and syslog error logs are not emulated; the log goes to stderr (journald takes it from there under systemd)",
      );
    } else {
      site.errorLog = target === "/dev/stderr"
        ? "-"
        : resolve(error.base, target);
    }
  }
  const level = collected.logLevel;
  if (level) {
    const words = level.args;
    const main = words.find((word) => !word.includes(":"));
    const wsgi = words.find((word) => word.toLowerCase().startsWith("wsgi:"));
    const chosen = wsgi?.slice(5) ?? main;
    const mapped = chosen === undefined ? undefined : logLevelOf(chosen);
    if (!mapped) {
      fail(
        level,
        `LogLevel: ${
          JSON.stringify(chosen)
        } is not a level (emerg, alert, crit, error, warn, notice, info, debug, trace1-8)`,
      );
    }
    site.logLevel = mapped;
  }
  for (const [index, node] of collected.customLogs.entries()) {
    const [target, format = "common", ...conditions] = node.args;
    if (index > 0 || site.accessLog) {
      warn(
        collected,
        node,
        node.name,
        "one access log per site: the first CustomLog is written",
      );
      continue;
    }
    if (target.startsWith("|")) {
      warn(
        collected,
        node,
        node.name,
        "piped logs are not emulated; no access log is written",
      );
      continue;
    }
    const path = target === "/dev/stdout" ? "-" : resolve(node.base, target);
    const written = collected.logFormats.get(format) ?? format;
    const combined = format === "combined" ||
      written.replace("%O", "%b") === COMBINED;
    if (!combined || node.key === "transferlog") {
      warn(
        collected,
        node,
        node.name,
        `the access log is written in Apache's combined format, not ${
          JSON.stringify(format)
        }`,
      );
    }
    if (conditions.length > 0) {
      warn(
        collected,
        node,
        node.name,
        `conditional logging (${
          conditions.join(" ")
        }) is not emulated: every request is logged`,
      );
    }
    site.accessLog = { path, format: "combined" };
  }
}
