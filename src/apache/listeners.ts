/**
 * The listeners of a site read from Apache: `Listen` lines, or the ports of
 * the `<VirtualHost>` sections when there are none, each with the TLS of
 * the virtual host (or server) that has `SSLEngine on` for its port.
 *
 * @module
 */

import type { SiteListener } from "../site.ts";
import type { Collected } from "./to_site.ts";
import { fail, warn } from "./report.ts";

/** Where the site listens, TLS included. */
export function listeners(collected: Collected, top: string): SiteListener[] {
  const found: SiteListener[] = collected.listens.map(({ listener }) => ({
    ...listener,
  }));
  if (found.length === 0) {
    for (const host of collected.hosts) {
      for (const { hostname, port } of host.addresses) {
        if (port === undefined) continue;
        const bind = /^[\d.]+$|:/.test(hostname) ? hostname : "0.0.0.0";
        if (!found.some((l) => l.hostname === bind && l.port === port)) {
          found.push({ hostname: bind, port });
        }
      }
    }
  }
  if (found.length === 0) {
    found.push({ hostname: "0.0.0.0", port: 80 });
    warn(
      collected,
      { file: top, line: 0 },
      "Listen",
      "no Listen and no <VirtualHost> port: listening on port 80 of every address, as Apache's stock httpd.conf does",
    );
  }
  for (const [index, host] of collected.hosts.entries()) {
    const { engine, certFile, keyFile } = host.tls;
    if (!engine) continue;
    if (!certFile || !keyFile) {
      fail(
        engine,
        `SSLEngine on in the <VirtualHost> at line ${host.node.line} needs SSLCertificateFile and SSLCertificateKeyFile`,
      );
    }
    const ports = host.addresses.map((address) => address.port);
    const matched = found.filter((listener) =>
      ports.includes(undefined) || ports.includes(listener.port)
    );
    if (matched.length === 0) {
      warn(
        collected,
        engine,
        "SSLEngine",
        `no Listen serves the port of <VirtualHost> ${index + 1}; TLS not used`,
      );
    }
    for (const listener of matched) listener.tls = { certFile, keyFile };
  }
  const server = collected.serverTls;
  if (server.engine) {
    if (!server.certFile || !server.keyFile) {
      fail(
        server.engine,
        "SSLEngine on needs SSLCertificateFile and SSLCertificateKeyFile",
      );
    }
    for (const listener of found) {
      listener.tls ??= { certFile: server.certFile, keyFile: server.keyFile };
    }
  }
  for (const { node, listener, https } of collected.listens) {
    const bound = found.find((l) =>
      l.hostname === listener.hostname && l.port === listener.port
    );
    if (https && !bound?.tls) {
      warn(
        collected,
        node,
        "Listen https",
        "no SSLEngine on with a certificate covers this port; served as plain HTTP",
      );
    }
  }
  return found;
}
