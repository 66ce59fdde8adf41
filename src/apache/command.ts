/**
 * The `from-apache CONF` sub-command: reads an Apache configuration and
 * serves what it describes with `serveSite()`, or with `--print` writes
 * the equivalent TypeScript program instead. A mistake in the file is one
 * line with file:line and exit code 2 (src/cli/main.ts prints it).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatWarning, serveSite } from "../serve_site.ts";
import { type CliOption, helpText, UsageError } from "../cli/usage.ts";
import { siteFromApache } from "./to_site.ts";
import { printSite } from "./print.ts";
import type { SiteConfig } from "../site.ts";

/** Every option of from-apache; the parser and `--help` both read it. */
const FROM_APACHE_OPTIONS: CliOption[] = [
  {
    name: "print",
    matches: "none",
    help:
      "write the equivalent TypeScript program to stdout instead of serving",
  },
  {
    name: "check",
    matches: "apachectl configtest",
    help:
      "read the file, list what cannot be honoured, and exit without serving",
  },
  {
    name: "listen",
    values: ["[HOST:]PORT"],
    repeat: true,
    fallback: "the configuration's Listen lines",
    matches: "Listen",
    help:
      "listen here instead (plain HTTP), e.g. to try a site before moving it",
  },
  {
    name: "import",
    values: ["SPECIFIER"],
    fallback: "this copy's mod.ts",
    matches: "none",
    help: "where the printed program imports the library from",
  },
  {
    name: "define",
    values: ["NAME"],
    repeat: true,
    matches: "httpd -D NAME",
    help: "define NAME for <IfDefine NAME>",
  },
  {
    name: "help",
    matches: "none",
    help: "show this help",
  },
];

/** The help text of from-apache. */
export function fromApacheHelp(): string {
  return helpText(FROM_APACHE_OPTIONS, {
    usage: "deno-wsgi from-apache CONF [options]",
    summary: [
      "Serves the WSGI site an Apache configuration describes (Listen, <VirtualHost>,",
      "WSGIScriptAlias, WSGIDaemonProcess, Alias, SetEnv, SSL*, logs; Include and",
      "Define are followed). What it cannot honour is listed at start-up with its",
      "file and line.",
    ].join("\n"),
  });
}

/**
 * `--listen [HOST:]PORT`: plain HTTP listeners instead of the file's (a
 * port alone listens on 127.0.0.1, for trying a site out).
 */
export function replaceListeners(site: SiteConfig, listens: string[]) {
  const replaced = site.listeners.filter((listener) => listener.tls);
  site.listeners = listens.map((written) => {
    const match = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+)$/.exec(written);
    const port = Number(match?.[2]);
    if (!match || port > 65535) {
      throw new UsageError(
        `--listen takes [HOST:]PORT, got ${JSON.stringify(written)}`,
      );
    }
    const hostname = match[1]?.replace(/^\[|\]$/g, "") ?? "127.0.0.1";
    return { hostname, port };
  });
  if (replaced.length > 0) {
    site.warnings.push({
      file: "command line",
      line: 0,
      directive: "--listen",
      reason:
        `replaces ${replaced.length} HTTPS listener(s) of the file with plain HTTP`,
    });
  }
}

/** from-apache's arguments, parsed. */
export interface FromApachePlan {
  help: boolean;
  conf?: string;
  print: boolean;
  check: boolean;
  importFrom?: string;
  listen: string[];
  defines: string[];
}

/** Parses from-apache's arguments; a mistake is a UsageError. */
export function planFromApache(args: string[]): FromApachePlan {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        print: { type: "boolean" },
        check: { type: "boolean" },
        listen: { type: "string", multiple: true },
        import: { type: "string" },
        define: { type: "string", multiple: true, short: "D" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError(
      (error as Error).message.replace(/\. To specify a positional.*$/s, ""),
    );
  }
  const { values, positionals } = parsed;
  if (values.help) {
    return { help: true, print: false, check: false, defines: [], listen: [] };
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "the Apache configuration file CONF is missing"
        : `one CONF only, got ${positionals.length}: ${positionals.join(" ")}`,
    );
  }
  return {
    help: false,
    conf: positionals[0],
    print: values.print ?? false,
    check: values.check ?? false,
    listen: values.listen ?? [],
    importFrom: values.import,
    defines: values.define ?? [],
  };
}

/** Runs from-apache; resolves with the exit code once the server stops. */
export async function fromApache(args: string[]): Promise<number> {
  const plan = planFromApache(args);
  if (plan.help) {
    console.log(fromApacheHelp());
    return 0;
  }
  const site = siteFromApache(plan.conf!, { defines: plan.defines });
  if (plan.listen.length > 0) replaceListeners(site, plan.listen);
  if (plan.check) {
    for (const warning of site.warnings) {
      console.log(`warning: ${formatWarning(warning)}`);
    }
    console.log(
      `${plan.conf}: ${site.listeners.length} listener(s), ${
        Object.keys(site.groups).length
      } group(s), ${site.mounts.length} mount(s), ${site.aliases.length} alias(es), ${site.warnings.length} warning(s)`,
    );
    return 0;
  }
  if (plan.print) {
    console.log(
      printSite(site, { importFrom: plan.importFrom, source: plan.conf }),
    );
    return 0;
  }
  const server = await serveSite(site);
  await server.finished;
  return 0;
}
