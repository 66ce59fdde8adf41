/**
 * Apache configuration text to logical lines: comments dropped, trailing
 * backslash continuations joined, arguments split the way Apache's
 * `ap_getword_conf` splits them (whitespace, "..." and '...' quoting, a
 * backslash escaping only the quote inside quotes, so Windows paths such as
 * `C:\yourdir\app.wsgi` stay as written), and section lines
 * (`<Name args>`, `</Name>`) told apart from directives.
 *
 * No npm package fits: the one Apache-config parser there (`apacheconf`
 * 0.0.5) is untested, stream-based and pulls in 2013-era dependencies.
 *
 * @module
 */

/** A mistake in the configuration, reported as "file:line: reason". */
export class ApacheConfigError extends Error {
  override name = "ApacheConfigError";
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
  }
}

/** One logical line of a configuration file. */
export interface ConfigLine {
  /** "directive", a section's opening line ("open") or its end ("close"). */
  kind: "directive" | "open" | "close";
  /** As written; Apache compares names without regard to case. */
  name: string;
  /** Arguments with the quotes removed (none for "close"). */
  args: string[];
  file: string;
  /** 1-based number of the line where the logical line starts. */
  line: number;
}

/** Splits one line's arguments as Apache does; throws on an open quote. */
export function splitArguments(
  text: string,
  file: string,
  line: number,
): string[] {
  const words: string[] = [];
  let index = 0;
  while (index < text.length) {
    while (index < text.length && /\s/.test(text[index])) index++;
    if (index >= text.length) break;
    const quote = text[index];
    if (quote === '"' || quote === "'") {
      let word = "";
      index++;
      while (index < text.length && text[index] !== quote) {
        // Only the quote itself can be escaped, as in ap_getword_conf.
        if (text[index] === "\\" && text[index + 1] === quote) index++;
        word += text[index++];
      }
      if (index >= text.length) {
        throw new ApacheConfigError(
          file,
          line,
          `unterminated ${quote} quote in: ${text.trim()}`,
        );
      }
      index++;
      words.push(word);
    } else {
      const start = index;
      while (index < text.length && !/\s/.test(text[index])) index++;
      words.push(text.slice(start, index));
    }
  }
  return words;
}

/** The logical lines of one file's text. */
export function lexConfig(text: string, file: string): ConfigLine[] {
  const physical = text.split(/\r?\n/);
  const lines: ConfigLine[] = [];
  for (let index = 0; index < physical.length; index++) {
    const start = index + 1;
    let logical = physical[index];
    while (logical.endsWith("\\") && index + 1 < physical.length) {
      logical = logical.slice(0, -1) + physical[++index];
    }
    const trimmed = logical.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    lines.push(lexLine(trimmed, file, start));
  }
  return lines;
}

function lexLine(text: string, file: string, line: number): ConfigLine {
  if (text.startsWith("</")) {
    const match = /^<\/([^\s>]+)\s*>$/.exec(text);
    if (!match) {
      throw new ApacheConfigError(file, line, `bad section end: ${text}`);
    }
    return { kind: "close", name: match[1], args: [], file, line };
  }
  if (text.startsWith("<")) {
    if (!text.endsWith(">")) {
      throw new ApacheConfigError(
        file,
        line,
        `section line does not end with ">": ${text}`,
      );
    }
    const inner = text.slice(1, -1).trim();
    const name = /^\S+/.exec(inner)?.[0];
    if (!name) {
      throw new ApacheConfigError(file, line, `empty section name: ${text}`);
    }
    const args = splitArguments(inner.slice(name.length), file, line);
    return { kind: "open", name, args, file, line };
  }
  const [name, ...args] = splitArguments(text, file, line);
  return { kind: "directive", name, args, file, line };
}
