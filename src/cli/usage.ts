/**
 * What the command line shares across sub-commands: the one-line error
 * with exit code 2, and the help text made from an option table, so the
 * help can never list an option the parser does not know or miss one.
 *
 * @module
 */

/** A mistake on the command line: one line on stderr, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** One command-line option, as the parser and the help text see it. */
export interface CliOption {
  /** Without the leading "--". */
  name: string;
  /** Names of its values, e.g. ["NUMBER"], ["URL", "PATH"]; none for a flag. */
  values?: string[];
  /** May be given more than once. */
  repeat?: boolean;
  /** The default, as shown in the help. */
  fallback?: string;
  /** The mod_wsgi-express option or Apache directive it matches. */
  matches: string;
  /** What it does, in a few words. */
  help: string;
}

/** The help text of a sub-command: usage, then every option with its default and match. */
export function helpText(
  usage: string,
  summary: string,
  options: CliOption[],
): string {
  const lines = [`usage: ${usage}`, "", summary, "", "options:"];
  for (const option of options) {
    const head = `  --${option.name}${
      option.values ? " " + option.values.join(" ") : ""
    }`;
    const notes = [
      option.fallback !== undefined ? `default ${option.fallback}` : "",
      option.repeat ? "repeatable" : "",
      `matches ${option.matches}`,
    ].filter(Boolean).join("; ");
    lines.push(head, `      ${option.help} (${notes})`);
  }
  return lines.join("\n");
}

/**
 * Joins the values of options that take two (`--url-alias URL PATH`) into
 * one token, so node:util's parseArgs (one value per option) can read them.
 */
export function joinPairs(
  args: string[],
  options: CliOption[],
  separator: string,
): string[] {
  const pairs = new Set(
    options.filter((o) => o.values?.length === 2).map((o) => `--${o.name}`),
  );
  const joined: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (!pairs.has(arg)) {
      joined.push(arg);
      continue;
    }
    const option = options.find((o) => `--${o.name}` === arg)!;
    const [first, second] = [args[index + 1], args[index + 2]];
    if (first === undefined || second === undefined) {
      throw new UsageError(
        `${arg} needs two values: ${option.values!.join(" ")}`,
      );
    }
    joined.push(arg, `${first}${separator}${second}`);
    index += 2;
  }
  return joined;
}
