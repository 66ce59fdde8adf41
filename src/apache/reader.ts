/**
 * Reads an Apache configuration file into a tree, doing what Apache does
 * while reading: `Include`/`IncludeOptional` (globs, relative to
 * `ServerRoot` or, without one, to the including file's folder), `Define`,
 * `UnDefine` and `${VAR}` (defines first, then environment variables), and
 * the conditional sections `<IfModule>`, `<IfDefine>`, `<IfVersion>` and
 * `<IfFile>`, whose contents are kept only when they hold. What is left is
 * directives and the sections that mean something to a site
 * (`<VirtualHost>`, `<Directory>`, `<Location>`, ...).
 *
 * @module
 */

import { globSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { SiteWarning } from "../site.ts";
import { type ConfigLine, lexConfig } from "./lexer.ts";
import { fail } from "./report.ts";
import { moduleIsEmulated, moduleName } from "./directives.ts";

/** A directive as read, `${VAR}` already replaced. */
export interface ConfigDirective {
  kind: "directive";
  /** As written. */
  name: string;
  /** Lower case, for lookups. */
  key: string;
  args: string[];
  file: string;
  line: number;
  /** Folder that relative paths in it are resolved against. */
  base: string;
}

/** A section (`<VirtualHost *:80>` ... `</VirtualHost>`) and what it holds. */
export interface ConfigSection extends Omit<ConfigDirective, "kind"> {
  kind: "section";
  children: ConfigNode[];
}

/** A directive or a section. */
export type ConfigNode = ConfigDirective | ConfigSection;

/**
 * How to read a configuration: names defined as with `httpd -D`, and where
 * `${VAR}` looks after `Define`.
 *
 * @example `<IfDefine PRODUCTION>` holds, `${PORT}` is 8080
 * ```ts
 * import { type ApacheReadOptions, siteFromApache } from "../../mod.ts";
 * const options: ApacheReadOptions = {
 *   defines: ["PRODUCTION"],
 *   env: (name) => name === "PORT" ? "8080" : undefined,
 * };
 * const site = siteFromApache("./tests/apache/seeds/flask.conf", options);
 * ```
 */
export interface ReadOptions {
  /** Names defined as with `httpd -D NAME`. */
  defines?: string[];
  /** Where `${VAR}` looks after the defines. Default: `Deno.env.get`. */
  env?: (name: string) => string | undefined;
}

/** The tree, and what the reader could not honour. */
export interface ReadResult {
  nodes: ConfigNode[];
  warnings: SiteWarning[];
}

/** The Apache version `<IfVersion>` compares against. */
const EMULATED_VERSION = [2, 4, 66];
const MAX_INCLUDE_DEPTH = 32;
const CONDITIONALS = new Set(["ifmodule", "ifdefine", "ifversion", "iffile"]);

interface Frame {
  open: ConfigLine;
  /** Undefined: a conditional whose contents are skipped or inlined. */
  section?: ConfigSection;
  /** False inside a conditional that does not hold (and everything in it). */
  active: boolean;
  /** Where the contents go. */
  into: ConfigNode[];
}

class Reader {
  readonly warnings: SiteWarning[] = [];
  readonly #defines = new Map<string, string | undefined>();
  #serverRoot: string | undefined;
  /** Relative paths (but Include's) without a ServerRoot: the top file's folder. */
  readonly #root: string;
  readonly #env: (name: string) => string | undefined;

  constructor(top: string, options: ReadOptions) {
    this.#root = dirname(top);
    for (const name of options.defines ?? []) {
      this.#defines.set(name, undefined);
    }
    this.#env = options.env ?? ((name) => Deno.env.get(name));
  }

  warn(
    node: { file: string; line: number },
    directive: string,
    reason: string,
  ) {
    this.warnings.push({ file: node.file, line: node.line, directive, reason });
  }

  readFile(path: string, into: ConfigNode[], depth: number, from?: ConfigLine) {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (error) {
      // Deno's message repeats the path after the reason: keep the reason.
      const why = (error as Error).message.replace(/: \w+ '.*'$/, "");
      const reason = `cannot read ${path}: ${why}`;
      if (from) fail(from, reason);
      fail({ file: path, line: 0 }, `cannot be read: ${why}`);
    }
    const stack: Frame[] = [];
    const top = () => stack.at(-1);
    for (const line of lexConfig(text, path)) {
      const active = top()?.active ?? true;
      const target = top()?.into ?? into;
      if (line.kind === "close") {
        const frame = stack.pop();
        if (!frame) {
          fail(line, `</${line.name}> without matching <${line.name}> section`);
        }
        if (frame.open.name.toLowerCase() !== line.name.toLowerCase()) {
          fail(
            line,
            `</${line.name}> does not close <${frame.open.name}> (opened at line ${frame.open.line})`,
          );
        }
        continue;
      }
      if (line.kind === "open") {
        const key = line.name.toLowerCase();
        if (!active) {
          stack.push({ open: line, active: false, into: target });
        } else if (CONDITIONALS.has(key)) {
          const holds = this.#condition(key, this.#substitute(line));
          stack.push({ open: line, active: holds, into: target });
        } else {
          const section: ConfigSection = {
            ...this.#node(this.#substitute(line)),
            kind: "section",
            children: [],
          };
          target.push(section);
          stack.push({
            open: line,
            section,
            active: true,
            into: section.children,
          });
        }
        continue;
      }
      if (!active) continue;
      this.#directive(this.#substitute(line), target, depth);
    }
    const open = stack[0];
    if (open) {
      fail(
        open.open,
        `<${open.open.name}> is never closed with </${open.open.name}>`,
      );
    }
  }

  #node(line: ConfigLine): ConfigDirective {
    return {
      kind: "directive",
      name: line.name,
      key: line.name.toLowerCase(),
      args: line.args,
      file: line.file,
      line: line.line,
      base: this.#serverRoot ?? this.#root,
    };
  }

  /** Replaces `${VAR}` in the arguments: defines first, then the environment. */
  #substitute(line: ConfigLine): ConfigLine {
    const args = line.args.map((arg) =>
      arg.replace(/\$\{([A-Za-z_][\w.]*)\}/g, (whole, name: string) => {
        const value = this.#defines.has(name)
          ? this.#defines.get(name)
          : this.#env(name);
        if (value === undefined) {
          this.warn(
            line,
            whole,
            "not defined by Define or the environment; left as written, as Apache does",
          );
          return whole;
        }
        return value;
      })
    );
    return { ...line, args };
  }

  #directive(line: ConfigLine, into: ConfigNode[], depth: number) {
    const key = line.name.toLowerCase();
    if (key === "define") {
      if (line.args.length < 1 || line.args.length > 2) {
        fail(line, "Define takes a name and an optional value");
      }
      this.#defines.set(line.args[0], line.args[1] ?? "");
      return;
    }
    if (key === "undefine") {
      this.#defines.delete(line.args[0]);
      return;
    }
    if (key === "serverroot") {
      if (line.args.length !== 1) {
        fail(line, "ServerRoot takes one folder");
      }
      this.#serverRoot = resolve(dirname(line.file), line.args[0]);
      return;
    }
    if (key === "include" || key === "includeoptional") {
      this.#include(line, key === "includeoptional", into, depth);
      return;
    }
    into.push(this.#node(line));
  }

  #include(
    line: ConfigLine,
    optional: boolean,
    into: ConfigNode[],
    depth: number,
  ) {
    if (line.args.length !== 1) {
      fail(line, `${line.name} takes one path`);
    }
    if (depth >= MAX_INCLUDE_DEPTH) {
      fail(
        line,
        `${line.name} nested ${MAX_INCLUDE_DEPTH} deep: a file includes itself?`,
      );
    }
    const base = this.#serverRoot ?? dirname(line.file);
    const pattern = isAbsolute(line.args[0])
      ? line.args[0]
      : join(base, line.args[0]);
    let files: string[];
    if (/[*?[]/.test(pattern)) {
      files = globSync(pattern).filter((file) => isFile(file));
      if (files.length === 0 && !optional) {
        fail(
          line,
          `Include: no file matches ${pattern} (IncludeOptional skips that)`,
        );
      }
    } else {
      files = filesUnder(pattern);
      if (files.length === 0 && !optional) {
        fail(
          line,
          `Include: ${pattern} does not exist (IncludeOptional skips that)`,
        );
      }
    }
    // Apache reads the matches in alphabetical order.
    for (const file of files.sort()) this.readFile(file, into, depth + 1, line);
  }

  #condition(key: string, line: ConfigLine): boolean {
    const [first = ""] = line.args;
    const negated = first.startsWith("!");
    const subject = negated ? first.slice(1) : first;
    let holds: boolean;
    if (key === "ifmodule") {
      holds = moduleIsEmulated(subject);
      if (!holds && !negated) {
        this.warn(
          line,
          `<IfModule ${first}>`,
          `module ${
            moduleName(subject)
          } is not emulated here: taken as not loaded, so what this section holds is skipped`,
        );
      }
    } else if (key === "ifdefine") {
      holds = this.#defines.has(subject);
    } else if (key === "iffile") {
      const base = this.#serverRoot ?? this.#root;
      holds = exists(isAbsolute(subject) ? subject : join(base, subject));
    } else {
      const version = versionHolds(line.args);
      if (version === undefined) {
        this.warn(
          line,
          "<IfVersion>",
          `only plain version comparisons are read; ${
            line.args.join(" ")
          } is taken as false`,
        );
      }
      return version ?? false;
    }
    return negated ? !holds : holds;
  }
}

/**
 * Whether `<IfVersion [op] version>` holds for the Apache version this
 * emulates; undefined for what is not a plain comparison (`~`, regexes).
 */
export function versionHolds(args: string[]): boolean | undefined {
  const [op, wanted] = args.length === 2 ? args : [">=", args[0] ?? ""];
  const parts = wanted.split(".").map(Number);
  if (
    parts.some(Number.isNaN) ||
    !["<", "<=", ">", ">=", "=", "=="].includes(op)
  ) {
    return undefined;
  }
  let order = 0;
  for (let i = 0; i < parts.length && order === 0; i++) {
    order = Math.sign(EMULATED_VERSION[i] - parts[i]);
  }
  return op === "<"
    ? order < 0
    : op === "<="
    ? order <= 0
    : op === ">"
    ? order > 0
    : op === ">="
    ? order >= 0
    : order === 0;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** A file, or every file in a folder and its subfolders. */
function filesUnder(path: string): string[] {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    return [];
  }
  if (!info.isDirectory) return [path];
  return [...Deno.readDirSync(path)].flatMap((entry) =>
    filesUnder(join(path, entry.name))
  );
}

/**
 * Reads the configuration at `path`, with its includes, into a tree.
 * Throws an `ApacheConfigError` ("file:line: reason") on a mistake.
 */
export function readApacheConfig(
  path: string,
  options: ReadOptions = {},
): ReadResult {
  const top = resolve(path);
  const reader = new Reader(top, options);
  const nodes: ConfigNode[] = [];
  reader.readFile(top, nodes, 0);
  return { nodes, warnings: reader.warnings };
}
