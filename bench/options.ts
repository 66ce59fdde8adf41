/**
 * The command line of every benchmark command: one table of options per
 * command, `--help` printed from it, and checks that name the bad option,
 * so that no command parses its arguments its own way.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** An option's default (a boolean: a flag; undefined: absent unless given) and help. */
export type Option = [fallback: string | boolean | undefined, help: string];

/**
 * Reads `args` by `options`; prints the help (`usage`, a line per option,
 * `footer`) and exits on `--help`. Arguments that are not options are
 * refused unless `positionals`. The getters throw a RangeError or
 * TypeError that names the option.
 */
export function parseOptions(
  usage: string,
  options: Record<string, Option>,
  { args = Deno.args, footer, positionals: allowPositionals = false }: {
    args?: string[];
    footer?: string;
    positionals?: boolean;
  } = {},
) {
  const table = { ...options, help: [false, "this text"] as Option };
  const { values, positionals } = parseArgs({
    // `deno task bench:cold -- --rounds 1` passes the "--" on.
    args: args.filter((arg) => arg !== "--"),
    allowPositionals,
    options: Object.fromEntries(
      Object.entries(table).map(([name, [fallback]]) => [
        name,
        typeof fallback === "boolean"
          ? { type: "boolean" }
          : { type: "string", default: fallback },
      ]),
    ),
  });
  if (values.help) {
    console.log(helpText(usage, table) + (footer ? `\n${footer}` : ""));
    Deno.exit(0);
  }
  const text = (name: string) => values[name] as string | undefined;
  return {
    positionals,
    text,
    flag: (name: string) => values[name] === true,
    whole(name: string, min = 1): number {
      const n = Number(text(name));
      if (!Number.isInteger(n) || n < min) {
        throw new RangeError(`--${name} must be a whole number >= ${min}`);
      }
      return n;
    },
    /** A comma-separated list, each among `known` when given. */
    list(name: string, known?: string[]): string[] {
      const chosen = (text(name) ?? "").split(",").map((s) => s.trim())
        .filter(Boolean);
      const unknown = chosen.filter((s) => known && !known.includes(s));
      if (unknown.length) {
        throw new RangeError(`--${name}: unknown ${unknown}; known: ${known}`);
      }
      return chosen;
    },
    object(name: string): Record<string, unknown> {
      let value;
      try {
        value = JSON.parse(text(name) ?? "");
      } catch {
        // the check below names the option
      }
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new TypeError(
          `--${name} must be a JSON object, not ${text(name)}`,
        );
      }
      return value;
    },
  };
}

/** The usage line, then one line per option with its default. */
export function helpText(usage: string, options: Record<string, Option>) {
  return [
    usage,
    ...Object.entries(options).map(([name, [fallback, help]]) =>
      `  --${name.padEnd(18)} ${help}${
        typeof fallback === "string" && fallback ? ` (${fallback})` : ""
      }`
    ),
  ].join("\n");
}
