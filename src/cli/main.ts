/**
 * The command line: a table of sub-commands, each a function from its
 * arguments to an exit code. Mistakes on the command line are one line on
 * stderr and exit code 2, never a stack trace.
 *
 * @module
 */

import { serveSite } from "../serve_site.ts";
import { planStartServer, startServerHelp } from "./start_server.ts";
import { UsageError } from "./usage.ts";
import { fromApache } from "../apache/command.ts";
import {
  BUILD_SNAPSHOT_SUMMARY,
  buildSnapshotCommand,
} from "./build_snapshot.ts";

/** One sub-command of `deno-wsgi`. */
export interface Subcommand {
  /** One line for the list of sub-commands. */
  summary: string;
  /** Runs it; resolves with the process's exit code. */
  run(args: string[]): Promise<number>;
}

async function startServer(args: string[]): Promise<number> {
  const plan = planStartServer(args);
  if (plan.help) {
    console.log(startServerHelp());
    return 0;
  }
  try {
    const server = await serveSite(plan.site);
    await server.finished;
    return 0;
  } finally {
    for (const folder of plan.temporary) {
      Deno.removeSync(folder, { recursive: true });
    }
  }
}

/** Sub-commands by name. */
export const SUBCOMMANDS: Record<string, Subcommand> = {
  "start-server": {
    summary: "serve a WSGI script, with mod_wsgi-express's options",
    run: startServer,
  },
  "build-snapshot": {
    summary: BUILD_SNAPSHOT_SUMMARY,
    run: buildSnapshotCommand,
  },
  "from-apache": {
    summary:
      "serve (or --print as TypeScript) an Apache + mod_wsgi configuration",
    run: fromApache,
  },
};

function overview(): string {
  const names = Object.keys(SUBCOMMANDS);
  const width = Math.max(...names.map((name) => name.length));
  return [
    "usage: deno-wsgi SUB-COMMAND [options]   (SUB-COMMAND --help for its options)",
    "",
    ...names.map((name) =>
      `  ${name.padEnd(width)}  ${SUBCOMMANDS[name].summary}`
    ),
  ].join("\n");
}

/** Runs the command line; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  // `deno task serve -- start-server ...` hands the "--" on.
  const [name, ...rest] = args[0] === "--" ? args.slice(1) : args;
  if (name === undefined || name === "--help" || name === "-h") {
    console.log(overview());
    return name === undefined ? 2 : 0;
  }
  const command = SUBCOMMANDS[name];
  if (!command) {
    console.error(
      `deno-wsgi: unknown sub-command ${JSON.stringify(name)}; one of ${
        Object.keys(SUBCOMMANDS).join(", ")
      }`,
    );
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    // A bad value found while starting (a missing script, a bad folder, a
    // taken port) is as much a usage mistake as an unknown option.
    const message = error instanceof Error ? error.message : String(error);
    const hint = error instanceof UsageError ? ` (see ${name} --help)` : "";
    console.error(`deno-wsgi ${name}: ${message.split("\n")[0]}${hint}`);
    return 2;
  }
}
