/**
 * The checks every option goes through, with messages that name the option
 * and say what is expected: TypeError for a wrong type, RangeError for a
 * number out of range. Used by defineGroup(), mountWsgi() and alias().
 *
 * @module
 */

import { resolve } from "node:path";
import type { SnapshotSettings } from "./snapshots.ts";

/** A value of the wrong type: TypeError, naming the option. */
export function fail(
  where: string,
  option: string,
  expected: string,
  got: unknown,
): TypeError {
  let shown: string;
  try {
    shown = JSON.stringify(got) ?? String(got);
  } catch {
    shown = String(got);
  }
  return new TypeError(
    `${where}: option "${option}" must be ${expected}, got ${shown}`,
  );
}

/** Where options are checked, and the names they may have. */
export interface OptionNames {
  /** The call, for the message: `mountWsgi("/app")`. */
  where: string;
  names: readonly string[];
}

/**
 * Options must be an object of known names: a TypeError names the first
 * unknown one and lists the rest, so a typo says what was meant.
 */
export function checkOptionNames(
  options: unknown,
  { where, names }: OptionNames,
): Record<string, unknown> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where}: options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!names.includes(key)) {
      throw new TypeError(
        `${where}: unknown option "${key}"; the options are ${
          names.join(", ")
        }`,
      );
    }
  }
  return options as Record<string, unknown>;
}

/** A number in the wrong range: RangeError, naming the option. */
export function outOfRange(
  where: string,
  option: string,
  expected: string,
  got: number,
) {
  return new RangeError(
    `${where}: option "${option}" must be ${expected}, got ${got}`,
  );
}

/** Reads one option of a call's options, or its default, checked. */
export type OptionCheck<T> = (
  where: string,
  options: Record<string, unknown>,
  option: string,
  fallback: T,
) => T;

/**
 * A check that refuses a value of the wrong type (TypeError) and, for
 * numbers, one out of range (RangeError), both saying `expected`.
 */
function optionCheck<T>(
  expected: string,
  { ofType, inRange = () => true }: {
    ofType: (value: unknown) => value is T;
    inRange?: (value: T) => boolean;
  },
): OptionCheck<T> {
  return (where, options, option, fallback) => {
    const value = options[option] ?? fallback;
    if (!ofType(value)) throw fail(where, option, expected, value);
    if (!inRange(value)) {
      throw outOfRange(where, option, expected, Number(value));
    }
    return value;
  };
}

const isNumber = (value: unknown): value is number =>
  typeof value === "number" && !Number.isNaN(value);

/** A number of seconds >= 0. */
export const seconds: OptionCheck<number> = optionCheck(
  "a number of seconds >= 0",
  { ofType: isNumber, inRange: (n) => Number.isFinite(n) && n >= 0 },
);

/** true or false. */
export const flag: OptionCheck<boolean> = optionCheck("true or false", {
  ofType: (value): value is boolean => typeof value === "boolean",
});

/** A whole number >= `min`. */
export function count(
  where: string,
  options: Record<string, unknown>,
  option: string,
  fallback: number,
  min = 0,
): number {
  return optionCheck(`an integer >= ${min}`, {
    ofType: isNumber,
    inRange: (n) => Number.isInteger(n) && n >= min,
  })(where, options, option, fallback);
}

/** Checks that every path in an option exists as a folder; returns them absolute. */
export function folders(
  where: string,
  option: string,
  value: unknown,
): string[] {
  if (value === undefined) return [];
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.some((p) => typeof p !== "string")) {
    throw fail(where, option, "an array of folder paths", value);
  }
  return list.map((path) => folder(where, option, path));
}

/** Checks that a path exists as a folder; returns it absolute. */
export function folder(where: string, option: string, path: string): string {
  // resolve() also drops a trailing "/", so equal folders compare equal.
  const absolute = resolve(path);
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(absolute);
  } catch (error) {
    throw new TypeError(
      `${where}: option "${option}" names ${absolute}, which cannot be read (${
        (error as Error).message
      }); create it or fix the path`,
    );
  }
  if (!info.isDirectory) {
    throw new TypeError(
      `${where}: option "${option}" names ${absolute}, which is not a folder`,
    );
  }
  return absolute;
}

/** The default snapshot folder, or undefined when the environment hides it. */
function defaultSnapshotFolder(): string | undefined {
  try {
    const chosen = Deno.env.get("DENO_WSGI_SNAPSHOTS");
    // "off" turns the default off without touching code (an operator's switch).
    if (chosen === "off") return undefined;
    if (chosen) return resolve(chosen);
    const cache = Deno.env.get("XDG_CACHE_HOME") ??
      (Deno.env.get("HOME") && `${Deno.env.get("HOME")}/.cache`);
    return cache ? resolve(cache, "deno-wsgi", "snapshots") : undefined;
  } catch {
    return undefined; // no --allow-env: snapshots stay off unless a folder is given
  }
}

/** Checks `snapshot` and fills in its default folder. */
export function snapshotOption(
  where: string,
  value: unknown,
): SnapshotSettings | undefined {
  if (value === undefined || value === true) {
    const folder = defaultSnapshotFolder();
    return folder ? { folder, write: true, script: false } : undefined;
  }
  if (value === false) return undefined;
  const expected =
    "true, false or { folder?: string, write?: boolean, script?: boolean }";
  if (typeof value !== "object" || value === null) {
    throw fail(where, "snapshot", expected, value);
  }
  const { folder, write, script, ...rest } = value as Record<string, unknown>;
  if (
    Object.keys(rest).length > 0 ||
    (folder !== undefined && (typeof folder !== "string" || folder === "")) ||
    (write !== undefined && typeof write !== "boolean")
  ) {
    throw fail(where, "snapshot", expected, value);
  }
  if (script !== undefined && typeof script !== "boolean") {
    throw fail(where, "snapshot.script", "true or false", script);
  }
  const chosen = folder === undefined
    ? defaultSnapshotFolder()
    : resolve(folder as string);
  if (!chosen) {
    throw new TypeError(
      `${where}: option "snapshot" needs a folder: the default one comes from $HOME, which Deno's permissions hide (add --allow-env or give snapshot.folder)`,
    );
  }
  return { folder: chosen, write: write !== false, script: script === true };
}
