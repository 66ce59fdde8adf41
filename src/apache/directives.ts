/**
 * What the Apache reader knows about directives and modules it does not
 * translate one by one: the modules it stands in for (so `<IfModule>` on
 * them holds), the server-wide boilerplate it accepts without a word, and
 * Apache's log levels in this project's terms.
 *
 * @module
 */

import type { LogLevel } from "../logging.ts";
import type { ConfigDirective } from "./reader.ts";
import type { SiteWarning } from "../site.ts";
import { warn } from "./report.ts";

/**
 * Modules whose directives this site honours, so `<IfModule>` holds for
 * them: mod_wsgi itself, and the modules whose directives are translated
 * (Alias, SetEnv, SSL*, CustomLog, Require, server-status, IfVersion,
 * RequestReadTimeout's body=).
 */
const EMULATED_MODULES = new Set([
  "wsgi",
  "alias",
  "env",
  "ssl",
  "log_config",
  "mime",
  "dir",
  "authz_core",
  "authz_host",
  "status",
  "version",
  "reqtimeout",
]);

/** `mod_wsgi.c` and `wsgi_module` both name "wsgi". */
export function moduleName(written: string): string {
  return written.replace(/^mod_/, "").replace(/\.c$/, "").replace(
    /_module$/,
    "",
  );
}

/** Whether `<IfModule written>` holds here. */
export function moduleIsEmulated(written: string): boolean {
  return EMULATED_MODULES.has(moduleName(written));
}

/**
 * Directives accepted without a warning: they configure the Apache process
 * itself (MPM, modules, timeouts, identity), or only say what the site
 * already does, and change nothing a WSGI app sees.
 */
export const QUIET_DIRECTIVES = new Set([
  "loadmodule",
  "loadfile",
  "serveradmin",
  "serveralias",
  "serversignature",
  "servertokens",
  "pidfile",
  "mutex",
  "defaultruntimedir",
  "maxkeepaliverequests",
  "hostnamelookups",
  "accessfilename",
  "allowoverride",
  "allowoverridelist",
  "options",
  "startservers",
  "minspareservers",
  "maxspareservers",
  "minsparethreads",
  "maxsparethreads",
  "threadlimit",
  "threadsperchild",
  "serverlimit",
  "maxconnectionsperchild",
  "maxrequestsperchild",
  "traceenable",
  "typesconfig",
  "adddefaultcharset",
  "usecanonicalname",
  "enablesendfile",
  "enablemmap",
  "fileetag",
  "logformat",
  "directoryindex",
  "addtype",
  "order",
  "wsgisocketprefix",
  "wsgirestrictembedded",
  "wsgirestrictstdout",
  "wsgirestrictstdin",
  "wsgirestrictsignal",
  "wsgilazyinitialization",
  "wsgiacceptmutex",
  "wsgipythoneggs",
  "sslrandomseed",
  "sslsessioncache",
  "sslsessioncachetimeout",
  "sslpassphrasedialog",
  "sslcryptodevice",
  // Debian's stock module configuration for what never reaches a WSGI app:
  // listing icons, language negotiation, ancient-browser workarounds.
  "addicon",
  "addiconbytype",
  "addiconbyencoding",
  "addalt",
  "addaltbytype",
  "addaltbyencoding",
  "adddescription",
  "defaulticon",
  "indexoptions",
  "indexignore",
  "indexorderdefault",
  "headername",
  "readmename",
  "addlanguage",
  "addcharset",
  "addencoding",
  "removetype",
  "languagepriority",
  "forcelanguagepriority",
  "browsermatch",
  "browsermatchnocase",
  "extendedstatus",
]);

/**
 * Apache's LogLevel names to ours: the emergencies are errors, notice is
 * info, and the trace levels are debug.
 */
export function logLevelOf(apache: string): LogLevel | undefined {
  const name = apache.toLowerCase();
  if (["emerg", "alert", "crit", "error"].includes(name)) return "error";
  if (name === "warn") return "warn";
  if (name === "notice" || name === "info") return "info";
  if (name === "debug" || /^trace[1-8]$/.test(name)) return "debug";
  return undefined;
}

/** Why a directive of another module is not honoured. */
function reasonFor(key: string): string {
  if (key === "user" || key === "group") {
    return "the server runs as the user that starts it; restrict what Python may touch with the group's writable, allowNet and isolation/permissions options";
  }
  if (key.startsWith("rewrite")) {
    return "mod_rewrite is not emulated; put redirects in a proxy in front, or in the app";
  }
  if (key.startsWith("redirect")) {
    return "mod_alias redirects are not emulated; put them in a proxy in front, or in the app";
  }
  if (key.startsWith("auth") || key === "authtype") {
    return "authentication is not emulated: every client reaches the app; authenticate in the app or a proxy";
  }
  if (key.startsWith("wsgi")) {
    return "this mod_wsgi directive is not emulated";
  }
  if (key.startsWith("proxy")) {
    return "mod_proxy is not emulated";
  }
  if (key === "addhandler") {
    return "handlers are not emulated; mount each WSGI script with WSGIScriptAlias";
  }
  return "not emulated here (another module's directive); ignored";
}

/** Quiet boilerplate, or a warning saying why it is not honoured. */
export function otherDirective(
  node: ConfigDirective,
  collected: { warnings: SiteWarning[] },
) {
  if (QUIET_DIRECTIVES.has(node.key)) return;
  const reason = reasonFor(node.key);
  // One warning per directive and file, counting the other lines.
  const first = collected.warnings.find((warning) =>
    warning.file === node.file && warning.directive === node.name &&
    warning.reason.startsWith(reason)
  );
  if (!first) {
    warn(collected, node, node.name, reason);
    return;
  }
  const more =
    Number(/\((\d+) more lines? in this file\)$/.exec(first.reason)?.[1] ?? 0) +
    1;
  first.reason = `${reason} (${more} more line${
    more === 1 ? "" : "s"
  } in this file)`;
}
