/**
 * An Apache configuration tree (from reader.ts) to a SiteConfig: listeners
 * from `Listen` and `<VirtualHost>`, groups from `WSGIDaemonProcess`, mounts
 * from `WSGIScriptAlias` with the per-directory settings that apply to each
 * script (scopes.ts), aliases, TLS, logs and the status page. Whatever
 * cannot be honoured becomes a SiteWarning with its file and line; mistakes
 * Apache itself would refuse throw an ApacheConfigError.
 *
 * @module
 */

import { resolve } from "node:path";
import type { GroupOptions } from "../config.ts";
import type { SiteConfig, SiteListener, SiteWarning } from "../site.ts";
import type { ConnectionLimits } from "../connection_limits.ts";
import {
  type ConfigNode,
  readApacheConfig,
  type ReadOptions,
} from "./reader.ts";
import type { ConfigDirective, ConfigSection } from "./reader.ts";
import { fail, warn } from "./report.ts";
import { newScope, type Scope } from "./scopes.ts";
import { perDirectory } from "./per_directory.ts";
import { serverDirective } from "./server_directives.ts";
import { otherDirective } from "./directives.ts";
import { assembleSite } from "./assemble.ts";

/** A `<VirtualHost>` as far as the site needs it. */
export interface Host {
  node: ConfigSection;
  /** `ServerName`, if the section has one. */
  serverName?: string;
  /** Its addresses: host ("*" for any) and port (undefined: any). */
  addresses: { hostname: string; port?: number }[];
  /** `SSLEngine on` and its files. */
  tls: { engine?: ConfigDirective; certFile?: string; keyFile?: string };
  /** Whether a mount or alias is in it. */
  serves: boolean;
}

/** A `WSGIScriptAlias` as read, before its settings are merged. */
export interface MountLine {
  node: ConfigDirective;
  host?: number;
  prefix: string;
  script: string;
  options: Record<string, string>;
}

/** An `Alias` (or `DocumentRoot` at "/") as read. */
export interface AliasLine {
  node: ConfigDirective;
  host?: number;
  urlPath: string;
  path: string;
}

/** Everything the walk collects; assemble.ts turns it into a SiteConfig. */
export interface Collected {
  warnings: SiteWarning[];
  scopes: Scope[];
  hosts: Host[];
  listens: { node: ConfigDirective; listener: SiteListener; https: boolean }[];
  /** Server-level TLS (`SSLEngine on` outside any `<VirtualHost>`). */
  serverTls: Host["tls"];
  serverName?: string;
  groups: Map<
    string,
    { options: GroupOptions; host?: number; node: ConfigDirective }
  >;
  pythonHome?: ConfigDirective;
  pythonPath?: ConfigDirective;
  imports: { node: ConfigDirective; host?: number }[];
  mounts: MountLine[];
  aliases: AliasLine[];
  documentRoots: AliasLine[];
  /** `<Location>` paths with `SetHandler server-status`. */
  statusPages: {
    path: string;
    host?: number;
    scope: Scope;
    node: ConfigDirective;
  }[];
  /** `Timeout`, `KeepAliveTimeout`, `RequestReadTimeout header=`, `MaxRequestWorkers`. */
  connections: ConnectionLimits;
  errorLog?: ConfigDirective;
  logLevel?: ConfigDirective;
  /** `RequestReadTimeout body=`: every mount's bodyTimeout and bodyMinRate. */
  bodyTimeout?: { timeout: number; minRate?: number; node: ConfigDirective };
  customLogs: ConfigDirective[];
  logFormats: Map<string, string>;
  /** Where `PassEnv` reads the server's environment (ReadOptions.env). */
  env: (name: string) => string | undefined;
}

/** Where the walk is: the scope directives write into. */
interface Place {
  scope: Scope;
  host?: number;
}

const SECTIONS_OF_ACCESS = new Set(["requireall", "requireany", "requirenone"]);

/** Directives Apache refuses inside `<Directory>` and `<Location>`. */
const SERVER_ONLY = new Set([
  "wsgiscriptalias",
  "wsgiscriptaliasmatch",
  "wsgidaemonprocess",
  "wsgipythonhome",
  "wsgipythonpath",
  "wsgiimportscript",
  "alias",
  "aliasmatch",
  "listen",
  "servername",
  "documentroot",
  "sslengine",
  "sslcertificatefile",
  "sslcertificatekeyfile",
  "errorlog",
  "customlog",
  "transferlog",
]);

function notAllowed(
  node: { file: string; line: number; name: string },
  inside: string,
): never {
  fail(
    node,
    `${node.name} is not allowed inside ${inside} (Apache refuses it too)`,
  );
}

function walk(nodes: ConfigNode[], place: Place, collected: Collected) {
  for (const node of nodes) {
    if (node.kind === "section") {
      section(node, place, collected);
    } else if (!perDirectory(node, place.scope, collected)) {
      const inside = place.scope.kind;
      if (
        (inside === "directory" || inside === "location") &&
        SERVER_ONLY.has(node.key)
      ) {
        notAllowed(
          node,
          `<${inside === "directory" ? "Directory" : "Location"}>`,
        );
      }
      if (!serverDirective(node, place, collected)) {
        otherDirective(node, collected);
      }
    }
  }
}

function section(node: ConfigSection, place: Place, collected: Collected) {
  const where = place.scope.kind;
  if (node.key === "virtualhost") {
    if (where !== "server") notAllowed(node, "another section");
    const host: Host = {
      node,
      addresses: node.args.map((address) => hostAddress(node, address)),
      tls: {},
      serves: false,
    };
    collected.hosts.push(host);
    const index = collected.hosts.length - 1;
    const scope = newScope("vhost", index);
    collected.scopes.push(scope);
    walk(node.children, { scope, host: index }, collected);
    return;
  }
  if (node.key === "directory" || node.key === "location") {
    if (where === "directory" || where === "location") {
      notAllowed(node, `<${where === "directory" ? "Directory" : "Location"}>`);
    }
    const [path] = node.args;
    if (node.args.length !== 1) {
      fail(node, `<${node.name}> takes one path`);
    }
    if (path.startsWith("~")) {
      warn(
        collected,
        node,
        `<${node.name} ~ ...>`,
        "regular-expression sections are not emulated; what it holds is ignored",
      );
      return;
    }
    const scope = newScope(
      node.key === "directory" ? "directory" : "location",
      place.host,
      node.key === "directory" ? resolve(node.base, path) : path,
    );
    collected.scopes.push(scope);
    walk(node.children, { scope, host: place.host }, collected);
    return;
  }
  if (SECTIONS_OF_ACCESS.has(node.key)) {
    place.scope.settings.access = { value: "restricted", node };
    warn(
      collected,
      node,
      `<${node.name}>`,
      "access control is not applied here: every client reaches what it covers; restrict access at a proxy or firewall",
    );
    return;
  }
  if (onlyBoilerplate(node.children)) return;
  if (guardsDotfiles(node)) return;
  warn(
    collected,
    node,
    `<${node.name}${node.args.length ? " " + node.args.join(" ") : ""}>`,
    "this kind of section is not emulated; the directives it holds are ignored",
  );
}

/** `Require all granted`, `Order`, `Allow from all`: what every section repeats. */
function onlyBoilerplate(nodes: ConfigNode[]): boolean {
  return nodes.every((node) =>
    node.kind === "directive" && (
      node.key === "order" ||
      (node.key === "require" &&
        node.args.join(" ").toLowerCase() === "all granted") ||
      (node.key === "allow" &&
        node.args.join(" ").toLowerCase() === "from all") ||
      node.key === "options" || node.key === "allowoverride"
    )
  );
}

/**
 * `<FilesMatch "^\.ht">` denying `.htaccess` and the like: aliases never
 * serve dotfiles, so it is honoured already.
 */
function guardsDotfiles(node: ConfigSection): boolean {
  const pattern = node.args.at(-1) ?? "";
  return (node.key === "files" || node.key === "filesmatch") &&
    (pattern.startsWith("^\\.") || pattern.startsWith(".ht")) &&
    node.children.every((child) =>
      child.kind === "directive" &&
      ["require all denied", "deny from all", "order allow,deny"].includes(
        `${child.key} ${child.args.join(" ").toLowerCase()}`,
      )
    );
}

/** `*`, `*:80`, `_default_:443`, `1.2.3.4:80`, `[::1]:8080`, `example.com`. */
function hostAddress(
  node: ConfigSection,
  address: string,
): { hostname: string; port?: number } {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+|\*))?$/.exec(address);
  if (!match) {
    fail(node, `<VirtualHost>: bad address ${JSON.stringify(address)}`);
  }
  const hostname = match[1] === "_default_"
    ? "*"
    : match[1].replace(/^\[|\]$/g, "");
  const port = match[2] === undefined || match[2] === "*"
    ? undefined
    : Number(match[2]);
  if (port !== undefined && (port < 1 || port > 65535)) {
    fail(node, `<VirtualHost>: port out of range in ${address}`);
  }
  return { hostname, port };
}

/**
 * Reads an Apache + mod_wsgi configuration file (with its `Include`s) and
 * turns it into a SiteConfig for `serveSite()`: what `from-apache CONF`
 * serves. What cannot be honoured is in `site.warnings` with file and
 * line; a mistake Apache would refuse throws an Error whose message is
 * "file:line: reason".
 *
 * @example Read the Flask guide's virtual host
 * ```ts
 * import { siteFromApache } from "../../mod.ts";
 * const site = siteFromApache("./tests/apache/seeds/flask.conf");
 * if (site.mounts[0].group !== "yourapplication") throw new Error("group");
 * for (const warning of site.warnings) {
 *   console.log(`${warning.file}:${warning.line}: ${warning.reason}`);
 * }
 * ```
 */
export function siteFromApache(
  path: string,
  options: ReadOptions = {},
): SiteConfig {
  const read = readApacheConfig(path, options);
  const collected: Collected = {
    warnings: [...read.warnings],
    scopes: [],
    hosts: [],
    listens: [],
    serverTls: {},
    groups: new Map(),
    imports: [],
    mounts: [],
    aliases: [],
    documentRoots: [],
    statusPages: [],
    customLogs: [],
    logFormats: new Map(),
    connections: {},
    env: options.env ?? ((name) => Deno.env.get(name)),
  };
  const scope = newScope("server");
  collected.scopes.push(scope);
  walk(read.nodes, { scope }, collected);
  return assembleSite(collected, resolve(path));
}
