/**
 * Checks of a SiteConfig before anything starts, with messages that name
 * the field (`site.mounts[1].prefix`), so a JSON site description or a
 * producer's bug fails at once and says where.
 *
 * @module
 */

import type { SiteConfig } from "./site.ts";
import { resolveLimits } from "./connection_limits.ts";

const LEVELS = ["debug", "info", "warn", "error"];

function shown(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function wrongType(field: string, expected: string, got: unknown): TypeError {
  return new TypeError(
    `serveSite: site.${field} must be ${expected}, got ${shown(got)}`,
  );
}

function text(field: string, value: unknown): void {
  if (typeof value !== "string" || value === "") {
    throw wrongType(field, "a non-empty string", value);
  }
}

function list(field: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw wrongType(field, "an array", value);
  return value;
}

function stringList(field: string, value: unknown): void {
  if (value === undefined) return;
  const items = list(field, value);
  items.forEach((item, index) => text(`${field}[${index}]`, item));
}

/** Throws a TypeError or RangeError naming the first bad field. */
export function checkSite(site: SiteConfig): void {
  if (site === null || typeof site !== "object") {
    throw new TypeError(`serveSite: site must be an object`);
  }
  const listeners = list("listeners", site.listeners);
  if (listeners.length === 0) {
    throw new RangeError(`serveSite: site.listeners must name at least one`);
  }
  site.listeners.forEach((listener, index) => {
    const field = `listeners[${index}]`;
    text(`${field}.hostname`, listener?.hostname);
    const port = listener.port;
    if (typeof port !== "number") {
      throw wrongType(`${field}.port`, "a port number", port);
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(
        `serveSite: site.${field}.port must be an integer from 0 to 65535, got ${port}`,
      );
    }
    if (listener.tls !== undefined) {
      text(`${field}.tls.certFile`, listener.tls?.certFile);
      text(`${field}.tls.keyFile`, listener.tls?.keyFile);
    }
  });
  if (site.groups === null || typeof site.groups !== "object") {
    throw wrongType(
      "groups",
      "an object of group options by name",
      site.groups,
    );
  }
  list("mounts", site.mounts).forEach((_, index) => {
    const mount = site.mounts[index];
    const field = `mounts[${index}]`;
    text(`${field}.prefix`, mount?.prefix);
    if (!mount.prefix.startsWith("/")) {
      throw wrongType(
        `${field}.prefix`,
        'a URL path starting with "/"',
        mount.prefix,
      );
    }
    text(`${field}.script`, mount.script);
    if (mount.group !== undefined) {
      text(`${field}.group`, mount.group);
      if (mount.group !== "default" && !(mount.group in site.groups)) {
        throw new TypeError(
          `serveSite: site.${field}.group names "${mount.group}", which is not in site.groups`,
        );
      }
    }
    stringList(`${field}.trustedProxyHeaders`, mount.trustedProxyHeaders);
    stringList(`${field}.trustedProxies`, mount.trustedProxies);
  });
  list("aliases", site.aliases).forEach((_, index) => {
    text(`aliases[${index}].urlPath`, site.aliases[index]?.urlPath);
    text(`aliases[${index}].path`, site.aliases[index].path);
  });
  if (site.accessLog !== undefined) {
    text("accessLog.path", site.accessLog?.path);
    if (!["combined", "json"].includes(site.accessLog.format)) {
      throw wrongType(
        "accessLog.format",
        '"combined" or "json"',
        site.accessLog.format,
      );
    }
  }
  if (site.errorLog !== undefined) text("errorLog", site.errorLog);
  if (site.logLevel !== undefined && !LEVELS.includes(site.logLevel)) {
    throw wrongType("logLevel", `one of ${LEVELS.join(", ")}`, site.logLevel);
  }
  if (site.serverStatus !== undefined) {
    text("serverStatus.path", site.serverStatus?.path);
    stringList("serverStatus.allow", site.serverStatus.allow);
  }
  if (site.connections !== undefined) {
    resolveLimits("serveSite: site.connections", site.connections);
  }
  if (site.healthChecks !== undefined) {
    if (site.healthChecks === null || typeof site.healthChecks !== "object") {
      throw wrongType(
        "healthChecks",
        "an object { ready?, live? }",
        site.healthChecks,
      );
    }
    if (site.healthChecks.ready !== undefined) {
      text("healthChecks.ready", site.healthChecks.ready);
    }
    if (site.healthChecks.live !== undefined) {
      text("healthChecks.live", site.healthChecks.live);
    }
  }
  if (site.warnings !== undefined) list("warnings", site.warnings);
}
