/**
 * What the walk over an Apache configuration collected (to_site.ts) put
 * together into a SiteConfig: listeners with their TLS, groups, each mount
 * with the settings merged for its script, aliases, logs and the status
 * page, with a warning for each thing that cannot be honoured.
 *
 * @module
 */

import { basename, dirname, resolve } from "node:path";
import type { GroupOptions } from "../config.ts";
import type { SiteAlias, SiteConfig, SiteMount } from "../site.ts";
import type { ConfigDirective } from "./reader.ts";
import { isUnder, mergedSettings, type Settings } from "./scopes.ts";
import { fail, warn } from "./report.ts";
import { listeners } from "./listeners.ts";
import { logs, serverStatus } from "./logs.ts";
import type { Collected, MountLine } from "./to_site.ts";

/** mod_wsgi's embedded mode runs here in the library's default group. */
const DEFAULT_GROUP = "default";
const GLOBAL = "%{GLOBAL}";

function groups(
  collected: Collected,
  mounts: SiteMount[],
): Record<string, GroupOptions> {
  const result: Record<string, GroupOptions> = {};
  const home = collected.pythonHome
    ? resolve(collected.pythonHome.base, collected.pythonHome.args[0])
    : undefined;
  for (const [name, { options }] of collected.groups) {
    // Daemon processes start from the Python that WSGIPythonHome set up.
    result[name] = home && !options.pythonHome
      ? { ...options, pythonHome: home }
      : { ...options };
  }
  const embedded: GroupOptions = {};
  if (home) embedded.pythonHome = home;
  if (collected.pythonPath) {
    const node = collected.pythonPath;
    embedded.pythonPath = node.args[0].split(":").filter(Boolean).map((
      path,
    ) => resolve(node.base, path));
  }
  const embeddedUsed = mounts.some((mount) => mount.group === undefined);
  if (embeddedUsed && Object.keys(embedded).length > 0) {
    result[DEFAULT_GROUP] = embedded;
  }
  return result;
}

/** The daemon group a script runs in, or undefined for the default one. */
function groupFor(
  collected: Collected,
  mount: MountLine,
  settings: Settings,
): string | undefined {
  const node = mount.options["process-group"] !== undefined
    ? mount.node
    : settings.processGroup?.node;
  const name = mount.options["process-group"] ?? settings.processGroup?.value;
  if (name === undefined || name === GLOBAL || name === "") return undefined;
  if (name.startsWith("%{")) {
    warn(
      collected,
      node!,
      `WSGIProcessGroup ${name}`,
      "process groups chosen per request are not emulated; the default group serves it",
    );
    return undefined;
  }
  const group = collected.groups.get(name);
  if (!group) {
    fail(
      node!,
      `WSGIProcessGroup: no WSGIDaemonProcess named ${JSON.stringify(name)}`,
    );
  }
  if (group.host !== undefined && group.host !== mount.host) {
    fail(
      node!,
      `WSGIProcessGroup: the daemon process group ${
        JSON.stringify(name)
      } is defined in another <VirtualHost> (${group.node.file}:${group.node.line}); mod_wsgi lets a script use only a group of its own virtual host or of the server`,
    );
  }
  return name;
}

/** `%{GLOBAL}`, `%{RESOURCE}` (the default), `%{SERVER}` or a name. */
function applicationGroupFor(
  collected: Collected,
  mount: MountLine,
  settings: Settings,
): string | undefined {
  const node = mount.options["application-group"] !== undefined
    ? mount.node
    : settings.applicationGroup?.node;
  const name = mount.options["application-group"] ??
    settings.applicationGroup?.value;
  if (name === undefined || name === "%{RESOURCE}") return undefined;
  if (name === GLOBAL || name === "") return GLOBAL;
  if (name === "%{SERVER}" || name === "%{HOST}") {
    if (name === "%{HOST}") {
      warn(
        collected,
        node!,
        "WSGIApplicationGroup %{HOST}",
        "one interpreter per Host header is not emulated; taken as %{SERVER}",
      );
    }
    const host = mount.host === undefined
      ? undefined
      : collected.hosts[mount.host];
    const serverName = host?.serverName ?? collected.serverName ??
      "localhost";
    const port = host?.addresses.find((a) => a.port)?.port ??
      collected.listens[0]?.listener.port ?? 80;
    return port === 80 || port === 443 ? serverName : `${serverName}:${port}`;
  }
  if (name.startsWith("%{")) {
    warn(
      collected,
      node!,
      `WSGIApplicationGroup ${name}`,
      "application groups chosen per request are not emulated; taken as %{RESOURCE}",
    );
    return undefined;
  }
  return name;
}

function accessWarnings(
  collected: Collected,
  settings: Settings,
  what: string,
) {
  const access = settings.access;
  if (!access || access.value === "granted") return;
  const rule = `${access.node.name} ${access.node.args.join(" ")}`;
  warn(
    collected,
    access.node,
    rule,
    access.value === "denied"
      ? `Apache answers 403 for ${what}; this site serves it (no access control here): remove the mount or alias if it must stay closed`
      : `access control is not applied to ${what}: every client reaches it; restrict access at a proxy or firewall`,
  );
}

function mounts(collected: Collected): SiteMount[] {
  const result: SiteMount[] = [];
  for (const mount of collected.mounts) {
    if (result.some((m) => m.prefix === mount.prefix)) {
      warn(
        collected,
        mount.node,
        "WSGIScriptAlias",
        `a script is already mounted at ${mount.prefix} (from another <VirtualHost>?): host names are not told apart here, the first mount serves it`,
      );
      continue;
    }
    const settings = mergedSettings(
      collected.scopes,
      mount.host,
      mount.script,
      mount.prefix,
    );
    const site: SiteMount = { prefix: mount.prefix, script: mount.script };
    const group = groupFor(collected, mount, settings);
    if (group !== undefined) site.group = group;
    const applicationGroup = applicationGroupFor(collected, mount, settings);
    if (applicationGroup !== undefined) {
      site.applicationGroup = applicationGroup;
    }
    const callable = mount.options["callable-object"] ??
      settings.callable?.value;
    if (callable !== undefined) site.callable = callable;
    const pass = mount.options["pass-authorization"];
    if (pass !== undefined) {
      site.passAuthorization = pass.toLowerCase() === "on";
    } else if (settings.passAuthorization) {
      site.passAuthorization = settings.passAuthorization.value;
    }
    if (settings.reload) site.reload = settings.reload.value;
    const environ = Object.entries(settings.environ).filter((
      entry,
    ): entry is [string, string] => entry[1] !== null);
    if (environ.length > 0) site.environ = Object.fromEntries(environ);
    if (settings.limitRequestBody) {
      site.limitRequestBody = settings.limitRequestBody.value;
    }
    if (collected.bodyTimeout) {
      site.bodyTimeout = collected.bodyTimeout.timeout;
      // Without MinRate=, mod_reqtimeout extends nothing.
      site.bodyMinRate = collected.bodyTimeout.minRate ?? 0;
    }
    if (settings.trustedProxyHeaders) {
      site.trustedProxyHeaders = settings.trustedProxyHeaders.value;
    }
    if (settings.trustedProxies) {
      site.trustedProxies = settings.trustedProxies.value;
    }
    if (settings.chunkedRequest?.value === false) {
      warn(
        collected,
        settings.chunkedRequest.node,
        "WSGIChunkedRequest Off",
        "chunked request bodies are always accepted here (streamed to wsgi.input), never refused with 411",
      );
    }
    accessWarnings(collected, settings, `the script at ${mount.prefix}`);
    result.push(site);
  }
  return result;
}

function imports(collected: Collected, site: SiteConfig) {
  for (const { node } of collected.imports) {
    const [script, ...rest] = node.args;
    const path = resolve(node.base, script);
    if (site.mounts.some((mount) => mount.script === path)) continue;
    const options = Object.fromEntries(
      rest.map((arg) => arg.split("=", 2) as [string, string]),
    );
    const name = options["process-group"];
    const group = name === undefined || name === GLOBAL ? DEFAULT_GROUP : name;
    if (group !== DEFAULT_GROUP && !site.groups[group]) {
      fail(
        node,
        `WSGIImportScript: no WSGIDaemonProcess named ${JSON.stringify(name)}`,
      );
    }
    const module = /^([A-Za-z_]\w*)\.py$/.exec(basename(path))?.[1];
    if (!module) {
      warn(
        collected,
        node,
        "WSGIImportScript",
        `only a .py file named like a Python module can be preloaded (it is imported by name from its folder); ${script} is not`,
      );
      continue;
    }
    const options_ = site.groups[group] ??= {};
    options_.preload = [...(options_.preload ?? []), module];
    const folder = dirname(path);
    if (!options_.pythonPath?.includes(folder)) {
      options_.pythonPath = [...(options_.pythonPath ?? []), folder];
    }
  }
}

function aliases(collected: Collected, site: SiteConfig): SiteAlias[] {
  const result: SiteAlias[] = [];
  const lines = [...collected.aliases];
  const root = collected.documentRoots[0];
  if (
    root && !site.mounts.some((mount) => mount.prefix === "/") &&
    !lines.some((line) => line.urlPath === "/")
  ) {
    // Apache serves the DocumentRoot wherever nothing else claims the URL.
    lines.push(root);
  }
  for (const line of lines) {
    if (result.some((alias) => alias.urlPath === line.urlPath)) {
      warn(
        collected,
        line.node,
        line.node.name,
        `${line.urlPath} is already aliased (from another <VirtualHost>?): the first one serves it`,
      );
      continue;
    }
    const settings = mergedSettings(
      collected.scopes,
      line.host,
      line.path,
      line.urlPath,
    );
    const alias: SiteAlias = { urlPath: line.urlPath, path: line.path };
    if (settings.indexes?.value) alias.options = { listDirectories: true };
    accessWarnings(collected, settings, line.urlPath);
    result.push(alias);
  }
  return result;
}

/** Locations inside a mount that set something: only a whole mount can. */
function partialLocations(collected: Collected, site: SiteConfig) {
  for (const scope of collected.scopes) {
    if (scope.kind !== "location") continue;
    if (collected.statusPages.some((page) => page.scope === scope)) continue;
    const { environ, ...rest } = scope.settings;
    const set = Object.values(rest).filter(Boolean) as {
      node: ConfigDirective;
    }[];
    if (set.length === 0 && Object.keys(environ).length === 0) continue;
    const mount = site.mounts.find((m) =>
      m.prefix !== scope.path && isUnder(scope.path!, m.prefix)
    );
    if (!mount) continue;
    for (const { node } of set) {
      warn(
        collected,
        node,
        `${node.name} ${node.args.join(" ")}`,
        `<Location ${scope.path}> is part of the mount at ${mount.prefix}: settings apply per mount here, so this one is not honoured`,
      );
    }
  }
}

/** Puts a SiteConfig together from what the walk collected. */
export function assembleSite(collected: Collected, top: string): SiteConfig {
  const served = mounts(collected);
  const site: SiteConfig = {
    listeners: listeners(collected, top),
    groups: groups(collected, served),
    mounts: served,
    aliases: [],
    warnings: collected.warnings,
  };
  if (
    collected.pythonPath && !site.mounts.some((mount) => !mount.group)
  ) {
    warn(
      collected,
      collected.pythonPath,
      "WSGIPythonPath",
      "applies to embedded mode only, as in mod_wsgi, and every script here runs in a daemon group: give the group python-path= instead",
    );
  }
  imports(collected, site);
  site.aliases = aliases(collected, site);
  partialLocations(collected, site);
  const status = serverStatus(collected);
  if (status) site.serverStatus = status;
  logs(collected, site);
  const serving = collected.hosts.filter((host) => host.serves);
  if (serving.length > 1) {
    warn(
      collected,
      serving[1].node,
      "<VirtualHost>",
      `${serving.length} virtual hosts serve scripts or files: every mount and alias is served on every listener, whatever the Host header or port`,
    );
  }
  return site;
}
