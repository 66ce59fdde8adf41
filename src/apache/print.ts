/**
 * `from-apache CONF --print`: a SiteConfig as a TypeScript program that
 * does the same with the public API (`defineGroup`, `mountWsgi`, `alias`,
 * `serve`), for users who want to keep going in code.
 *
 * @module
 */

import type { SiteConfig, SiteListener } from "../site.ts";
import type { ConnectionLimits } from "../connection_limits.ts";

/** How the program is printed. */
export interface PrintOptions {
  /** Where the program imports the library from. Default: this copy's mod.ts. */
  importFrom?: string;
  /** The configuration it came from, named in the first comment. */
  source?: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** A value as a TypeScript literal: keys unquoted where they can be. */
function literal(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(literal).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return "{}";
    return `{ ${
      entries.map(([key, v]) =>
        `${IDENTIFIER.test(key) ? key : JSON.stringify(key)}: ${literal(v)}`
      ).join(", ")
    } }`;
  }
  return JSON.stringify(value);
}

function serveLine(
  listener: SiteListener,
  handler: string,
  limits: ConnectionLimits = {},
): string {
  const parts = [
    `hostname: ${JSON.stringify(listener.hostname)}`,
    `port: ${listener.port}`,
  ];
  for (const [name, value] of Object.entries(limits)) {
    if (value !== undefined) parts.push(`${name}: ${value}`);
  }
  if (listener.tls) {
    parts.push(
      `cert: Deno.readTextFileSync(${JSON.stringify(listener.tls.certFile)})`,
      `key: Deno.readTextFileSync(${JSON.stringify(listener.tls.keyFile)})`,
    );
  }
  return `serve({ ${parts.join(", ")} }, ${handler});`;
}

/** The TypeScript program that serves `site`. */
export function printSite(
  site: SiteConfig,
  options: PrintOptions = {},
): string {
  const from = options.importFrom ??
    new URL("../../mod.ts", import.meta.url).href;
  const names = new Set(["createRouter", "serve"]);
  const body: string[] = [];
  if (site.logLevel || site.errorLog) {
    names.add("configureLogging");
    const settings: string[] = [];
    if (site.logLevel) settings.push(`level: ${JSON.stringify(site.logLevel)}`);
    if (site.errorLog && site.errorLog !== "-") {
      names.add("formatLogEntry");
      body.push(
        `const errorLog = Deno.openSync(${
          JSON.stringify(site.errorLog)
        }, { append: true, create: true });`,
        "const encoder = new TextEncoder();",
      );
      settings.push(
        'sink: (entry) => errorLog.writeSync(encoder.encode(formatLogEntry(entry) + "\\n"))',
      );
    }
    body.push(`configureLogging({ ${settings.join(", ")} });`);
  }
  body.push("const router = createRouter();");
  for (const [name, group] of Object.entries(site.groups)) {
    names.add("defineGroup");
    body.push(`defineGroup(${JSON.stringify(name)}, ${literal(group)});`);
  }
  for (const mount of site.mounts) {
    names.add("mountWsgi");
    const { prefix, script, ...rest } = mount;
    const optionsText = Object.keys(rest).length > 0
      ? `, ${literal(rest)}`
      : "";
    body.push(
      `mountWsgi(router, ${JSON.stringify(prefix)}, ${
        JSON.stringify(script)
      }${optionsText});`,
    );
  }
  for (const alias of site.aliases) {
    names.add("alias");
    const optionsText = alias.options ? `, ${literal(alias.options)}` : "";
    body.push(
      `alias(router, ${JSON.stringify(alias.urlPath)}, ${
        JSON.stringify(alias.path)
      }${optionsText});`,
    );
  }
  if (site.serverStatus) {
    names.add("mountServerStatus");
    const { path, allow } = site.serverStatus;
    body.push(
      `mountServerStatus(router, ${JSON.stringify(path)}${
        allow ? `, ${literal({ allow })}` : ""
      });`,
    );
  }
  let handler = "router.fetch";
  if (site.accessLog) {
    names.add("withAccessLog");
    body.push(
      `const handler = withAccessLog(router.fetch, ${
        literal(site.accessLog)
      });`,
    );
    handler = "handler";
  }
  for (const listener of site.listeners) {
    body.push(serveLine(listener, handler, site.connections));
  }
  const header = [
    `// Made by \`deno-wsgi from-apache${
      options.source ? " " + options.source : ""
    } --print\`.`,
  ];
  if (site.warnings.length > 0) {
    header.push("// Not honoured from the Apache configuration:");
    for (const warning of site.warnings) {
      const where = warning.line > 0
        ? `${warning.file}:${warning.line}`
        : warning.file;
      header.push(`//   ${where}: ${warning.directive}: ${warning.reason}`);
    }
  }
  return [
    ...header,
    `import { ${[...names].sort().join(", ")} } from ${JSON.stringify(from)};`,
    "",
    ...body,
    "",
  ].join("\n");
}
