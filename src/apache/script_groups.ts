/**
 * The groups a mounted script runs in, as mod_wsgi chooses them: its daemon
 * process group and its application group (interpreter), from the
 * `WSGIScriptAlias` line's options or else the directives in force around
 * the script, with `%{GLOBAL}`, `%{RESOURCE}`, `%{SERVER}` and the names
 * chosen per request (warned).
 *
 * @module
 */

import type { ConfigNode } from "./reader.ts";
import type { Settings } from "./scopes.ts";
import { fail, warn } from "./report.ts";
import type { Collected, MountLine } from "./to_site.ts";

/** The one interpreter of a process, `%{GLOBAL}`. */
export const GLOBAL = "%{GLOBAL}";

/**
 * A `WSGIScriptAlias` option, else the directive in force around the
 * script (the option wins), with the line that set it.
 */
export function chosen(
  mount: MountLine,
  { settings, key }: {
    settings: Settings;
    key: "processGroup" | "applicationGroup";
  },
): Chosen {
  // processGroup: process-group=
  const option = key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  const setting = settings[key];
  return mount.options[option] !== undefined
    ? { name: mount.options[option], node: mount.node }
    : { name: setting?.value, node: setting?.node };
}

/** What `chosen()` found: a name and the line that set it, or neither. */
export interface Chosen {
  name?: string;
  node?: ConfigNode;
}

/** What serves instead of a `%{...}` name chosen per request. */
const PER_REQUEST = {
  WSGIProcessGroup:
    "process groups chosen per request are not emulated; the default group serves it",
  WSGIApplicationGroup:
    "application groups chosen per request are not emulated; taken as %{RESOURCE}",
};

/** A name chosen per request is not emulated: warned, and no name. */
function perRequest(
  collected: Collected,
  { directive, name, node }: Chosen & { directive: keyof typeof PER_REQUEST },
): undefined {
  warn(collected, node!, `${directive} ${name}`, PER_REQUEST[directive]);
  return undefined;
}

/** The daemon group a script runs in, or undefined for the default one. */
export function groupFor(
  collected: Collected,
  host: number | undefined,
  { name, node }: Chosen,
): string | undefined {
  if (name === undefined || name === GLOBAL || name === "") return undefined;
  if (name.startsWith("%{")) {
    return perRequest(collected, {
      directive: "WSGIProcessGroup",
      name,
      node,
    });
  }
  const group = collected.groups.get(name);
  if (!group) {
    fail(
      node!,
      `WSGIProcessGroup: no WSGIDaemonProcess named ${JSON.stringify(name)}`,
    );
  }
  if (group.host !== undefined && group.host !== host) {
    fail(
      node!,
      `WSGIProcessGroup: the daemon process group ${
        JSON.stringify(name)
      } is defined in another <VirtualHost> (${group.node.file}:${group.node.line}); mod_wsgi lets a script use only a group of its own virtual host or of the server`,
    );
  }
  return name;
}

/**
 * The application group `%{SERVER}` stands for in virtual host `index`:
 * its ServerName, with the port unless it is 80 or 443.
 */
export function serverGroup(
  collected: Collected,
  index: number | undefined,
): string {
  const host = index === undefined ? undefined : collected.hosts[index];
  const serverName = host?.serverName ?? collected.serverName ?? "localhost";
  const port = host?.addresses.find((a) => a.port)?.port ??
    collected.listens[0]?.listener.port ?? 80;
  return port === 80 || port === 443 ? serverName : `${serverName}:${port}`;
}

/** `%{GLOBAL}`, `%{RESOURCE}` (the default), `%{SERVER}` or a name. */
export function applicationGroupFor(
  collected: Collected,
  { name, node }: Chosen,
  server: string,
): string | undefined {
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
    return server;
  }
  if (name.startsWith("%{")) {
    return perRequest(collected, {
      directive: "WSGIApplicationGroup",
      name,
      node,
    });
  }
  return name;
}
