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
import type { Collected } from "./to_site.ts";
import {
  applicationGroupFor,
  chosen,
  GLOBAL,
  groupFor,
  serverGroup,
} from "./script_groups.ts";

/** mod_wsgi's embedded mode runs here in the library's default group. */
const DEFAULT_GROUP = "default";

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

/**
 * Each line with the settings merged for its file and URL; a later line
 * for a URL already served is warned and left out (host names are not
 * told apart here: the first one serves it).
 */
function firstPerUrl<T extends { node: ConfigDirective; host?: number }>(
  collected: Collected,
  { lines, placeOf, already }: {
    lines: T[];
    placeOf: (line: T) => { url: string; file: string };
    already: (line: T, url: string) => [directive: string, reason: string];
  },
): [T, Settings][] {
  const seen = new Set<string>();
  return lines.flatMap((line): [T, Settings][] => {
    const { url, file } = placeOf(line);
    if (seen.has(url)) {
      warn(collected, line.node, ...already(line, url));
      return [];
    }
    seen.add(url);
    const settings = mergedSettings(collected.scopes, line.host, file, url);
    return [[line, settings]];
  });
}

function mounts(collected: Collected): SiteMount[] {
  const result: SiteMount[] = [];
  const lines = firstPerUrl(collected, {
    lines: collected.mounts,
    placeOf: (mount) => ({ url: mount.prefix, file: mount.script }),
    already: (_, url) => [
      "WSGIScriptAlias",
      `a script is already mounted at ${url} (from another <VirtualHost>?): host names are not told apart here, the first mount serves it`,
    ],
  });
  for (const [mount, settings] of lines) {
    const site: SiteMount = { prefix: mount.prefix, script: mount.script };
    const group = groupFor(
      collected,
      mount.host,
      chosen(mount, { settings, key: "processGroup" }),
    );
    if (group !== undefined) site.group = group;
    const applicationGroup = applicationGroupFor(
      collected,
      chosen(mount, { settings, key: "applicationGroup" }),
      serverGroup(collected, mount.host),
    );
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
  const served = firstPerUrl(collected, {
    lines,
    placeOf: (line) => ({ url: line.urlPath, file: line.path }),
    already: (line, url) => [
      line.node.name,
      `${url} is already aliased (from another <VirtualHost>?): the first one serves it`,
    ],
  });
  for (const [line, settings] of served) {
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
  if (Object.keys(collected.connections).length > 0) {
    site.connections = collected.connections;
  }
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
