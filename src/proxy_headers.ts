/**
 * Trusted proxy headers, as mod_wsgi's `WSGITrustedProxyHeaders` and
 * `WSGITrustedProxies` handle them: behind nginx, `X-Forwarded-*` headers
 * from a listed proxy set REMOTE_ADDR, wsgi.url_scheme, HTTP_HOST,
 * SERVER_PORT (and SERVER_NAME, SCRIPT_NAME); from anyone else they are
 * dropped, so a client that talks to the server directly cannot spoof them.
 *
 * @module
 */

import ipaddr from "npm:ipaddr.js@2.5.0";
import { fail } from "./option_checks.ts";

/** What a header tells, and the mod_wsgi headers that may tell it. */
const PURPOSES = {
  client: ["x-forwarded-for", "x-client-ip", "x-real-ip"],
  scheme: [
    "x-forwarded-proto",
    "x-forwarded-scheme",
    "x-scheme",
    "x-forwarded-https",
    "x-forwarded-ssl",
    "x-https",
  ],
  host: ["x-forwarded-host", "x-host"],
  port: ["x-forwarded-port"],
  server: ["x-forwarded-server"],
  script: ["x-script-name", "x-forwarded-script-name"],
} as const;

type Purpose = keyof typeof PURPOSES;

const PURPOSE_OF = new Map<string, Purpose>(
  Object.entries(PURPOSES).flatMap(([purpose, names]) =>
    names.map((name) => [name, purpose as Purpose])
  ),
);

/** The proxy options of a mount, checked and compiled. */
export interface ProxyTrust {
  /** The trusted header for each purpose that has one, lower case. */
  headers: Map<Purpose, string>;
  /** Every header of a purpose that has a trusted header: never passed as is. */
  guarded: Set<string>;
  /** Whether an address is one of the trusted proxies. */
  trusts(address: string): boolean;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

function parseRange(where: string, option: string, entry: unknown): Range {
  if (typeof entry === "string") {
    try {
      if (entry.includes("/")) return ipaddr.parseCIDR(entry);
      const address = ipaddr.parse(entry);
      return [address, address.kind() === "ipv4" ? 32 : 128];
    } catch {
      // Reported below, with the option's name.
    }
  }
  throw fail(
    where,
    option,
    'an array of IP addresses or CIDR ranges, such as ["127.0.0.1", "10.0.0.0/8"]',
    entry,
  );
}

/** Matches addresses against ranges; IPv4-mapped IPv6 counts as IPv4. */
export function addressMatcher(
  where: string,
  option: string,
  entries: unknown,
): (address: string) => boolean {
  if (!Array.isArray(entries)) {
    throw fail(
      where,
      option,
      'an array of IP addresses or CIDR ranges, such as ["127.0.0.1", "10.0.0.0/8"]',
      entries,
    );
  }
  const ranges = entries.map((entry) => parseRange(where, option, entry));
  return (address: string) => {
    let parsed: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      parsed = ipaddr.process(address.replace(/^\[|\]$/g, ""));
    } catch {
      return false;
    }
    return ranges.some(([range, bits]) =>
      range.kind() === parsed.kind() && parsed.match(range, bits)
    );
  };
}

/**
 * Checks `trustedProxyHeaders` and `trustedProxies`; undefined when no
 * header is trusted (the environ is then built from the request alone).
 */
export function resolveProxyTrust(
  where: string,
  headerNames: unknown,
  proxies: unknown,
): ProxyTrust | undefined {
  if (headerNames === undefined) {
    if (proxies !== undefined) {
      addressMatcher(where, "trustedProxies", proxies);
    }
    return undefined;
  }
  const known = [...PURPOSE_OF.keys()].join(", ");
  if (
    !Array.isArray(headerNames) ||
    headerNames.some((name) => typeof name !== "string")
  ) {
    throw fail(
      where,
      "trustedProxyHeaders",
      `an array of header names (${known})`,
      headerNames,
    );
  }
  const headers = new Map<Purpose, string>();
  for (const name of headerNames as string[]) {
    const lower = name.toLowerCase();
    const purpose = PURPOSE_OF.get(lower);
    if (!purpose) {
      throw new TypeError(
        `${where}: option "trustedProxyHeaders" names ${
          JSON.stringify(name)
        }, which mod_wsgi does not know; use one of ${known}`,
      );
    }
    const other = headers.get(purpose);
    if (other && other !== lower) {
      throw new TypeError(
        `${where}: option "trustedProxyHeaders" names both ${other} and ${lower}, which tell the same thing; trust only the one your proxy sets`,
      );
    }
    headers.set(purpose, lower);
  }
  const guarded = new Set<string>();
  for (const purpose of headers.keys()) {
    for (const name of PURPOSES[purpose]) guarded.add(name);
  }
  const trusts = addressMatcher(where, "trustedProxies", proxies ?? []);
  return { headers, guarded, trusts };
}

function cgiName(header: string): string {
  return "HTTP_" + header.toUpperCase().replaceAll("-", "_");
}

/**
 * X-Forwarded-For: the right-most address that is not a trusted proxy is
 * the client (every address left of it could be made up by the client);
 * when all are proxies, the left-most. Returns the client and the header
 * as honoured (from the client on).
 */
export function forwardedClient(
  value: string,
  trusts: (address: string) => boolean,
): { client: string; honoured: string } | undefined {
  const hops = value.split(",").map((hop) => hop.trim()).filter(Boolean);
  if (hops.length === 0) return undefined;
  let index = hops.length - 1;
  while (index > 0 && trusts(hops[index])) index--;
  return { client: hops[index], honoured: hops.slice(index).join(", ") };
}

const HTTPS_FLAGS = new Set(["on", "1", "true", "yes"]);

function schemeOf(header: string, value: string): "http" | "https" {
  const lower = value.trim().toLowerCase();
  if (
    header === "x-forwarded-https" || header === "x-forwarded-ssl" ||
    header === "x-https"
  ) {
    return HTTPS_FLAGS.has(lower) ? "https" : "http";
  }
  return lower === "https" ? "https" : "http";
}

/**
 * Rewrites the CGI variables of a request from the trusted headers when the
 * peer is a trusted proxy, and drops every header of a trusted kind that
 * may not be believed: all of them from an untrusted peer, the others of
 * the same kind from a trusted one.
 */
export function applyProxyHeaders(
  environ: Record<string, string>,
  trust: ProxyTrust,
  peer: string | undefined,
): void {
  const trusted = peer !== undefined && trust.trusts(peer);
  const values = new Map<Purpose, string>();
  for (const name of trust.guarded) {
    const key = cgiName(name);
    const value = environ[key];
    if (value === undefined) continue;
    const purpose = PURPOSE_OF.get(name)!;
    if (trusted && trust.headers.get(purpose) === name) {
      values.set(purpose, value);
    } else {
      delete environ[key];
    }
  }
  const clientHeader = trust.headers.get("client");
  const client = values.get("client");
  if (client !== undefined && clientHeader) {
    if (clientHeader === "x-forwarded-for") {
      const found = forwardedClient(client, trust.trusts);
      if (found) {
        environ.REMOTE_ADDR = found.client;
        environ[cgiName(clientHeader)] = found.honoured;
      }
    } else if (client.trim()) {
      environ.REMOTE_ADDR = client.trim();
    }
  }
  const scheme = values.get("scheme");
  if (scheme !== undefined) {
    const value = schemeOf(trust.headers.get("scheme")!, scheme);
    environ["wsgi.url_scheme"] = value;
    environ.REQUEST_SCHEME = value;
    if (value === "https") environ.HTTPS = "1";
    else delete environ.HTTPS;
  }
  const host = values.get("host")?.split(",")[0].trim();
  if (host) {
    environ.HTTP_HOST = host;
    environ.SERVER_NAME = host.startsWith("[")
      ? host.slice(0, host.indexOf("]") + 1)
      : host.replace(/:\d*$/, "");
  }
  const port = values.get("port")?.split(",")[0].trim();
  if (port && /^\d{1,5}$/.test(port)) environ.SERVER_PORT = port;
  const server = values.get("server")?.split(",")[0].trim();
  if (server) environ.SERVER_NAME = server;
  const script = values.get("script")?.trim();
  if (script !== undefined && (script === "" || script.startsWith("/"))) {
    environ.SCRIPT_NAME = script.replace(/\/+$/, "");
  }
}
