/**
 * The options of `mountWsgi()` (mod_wsgi's per-script directives), checked
 * with messages that name the option; the group is resolved by the caller.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { checkOptionNames, fail, folders } from "./config.ts";

/** mountWsgi()'s options, validated, except `group` (groups.ts resolves it). */
export interface MountSettings {
  /** Absolute path of the WSGI script. */
  scriptPath: string;
  callable: string;
  applicationGroup: string;
  pythonPath: string[];
  passAuthorization: boolean;
  environ: Record<string, string>;
  reload: boolean;
}

const MOUNT_OPTION_NAMES = [
  "group",
  "applicationGroup",
  "callable",
  "pythonPath",
  "passAuthorization",
  "environ",
  "reload",
];

function flag(
  where: string,
  raw: Record<string, unknown>,
  option: string,
  fallback: boolean,
): boolean {
  const value = raw[option] ?? fallback;
  if (typeof value !== "boolean") {
    throw fail(where, option, "true or false", value);
  }
  return value;
}

/** Checks the script path and the options of `mountWsgi()`. */
export function resolveMountOptions(
  where: string,
  scriptPath: unknown,
  options: unknown,
): MountSettings {
  if (typeof scriptPath !== "string" || scriptPath === "") {
    throw new TypeError(`${where}: the script path must be a non-empty string`);
  }
  const raw = checkOptionNames(options, { where, names: MOUNT_OPTION_NAMES });

  const absolute = isAbsolute(scriptPath) ? scriptPath : resolve(scriptPath);
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(absolute);
  } catch (error) {
    throw new Error(
      `${where}: the WSGI script ${absolute} cannot be read (${
        (error as Error).message
      }); check the path`,
    );
  }
  if (!info.isFile) {
    throw new Error(`${where}: the WSGI script ${absolute} is not a file`);
  }
  const callable = raw.callable ?? "application";
  if (typeof callable !== "string" || !/^[A-Za-z_]\w*$/.test(callable)) {
    throw fail(where, "callable", "a Python identifier", callable);
  }
  const applicationGroup = raw.applicationGroup ?? "";
  if (typeof applicationGroup !== "string") {
    throw fail(
      where,
      "applicationGroup",
      'a string such as "%{GLOBAL}"',
      applicationGroup,
    );
  }
  return {
    scriptPath: absolute,
    callable,
    applicationGroup,
    pythonPath: folders(where, "pythonPath", raw.pythonPath),
    passAuthorization: flag(where, raw, "passAuthorization", false),
    environ: environOption(where, raw.environ),
    reload: flag(where, raw, "reload", true),
  };
}

/** Checks `environ`: string keys and values without NUL, like SetEnv. */
function environOption(where: string, value: unknown): Record<string, string> {
  const environ = value ?? {};
  if (
    typeof environ !== "object" || environ === null ||
    Object.entries(environ).some(([key, value]) =>
      typeof value !== "string" || key === ""
    )
  ) {
    throw new TypeError(
      `${where}: option "environ" must be an object of string values, like Apache's SetEnv`,
    );
  }
  for (
    const [key, value] of Object.entries(environ as Record<string, string>)
  ) {
    if (key.includes("\0") || value.includes("\0")) {
      throw new TypeError(
        `${where}: option "environ" has a NUL character in ${
          JSON.stringify(key)
        }; remove it (environ keys and values cannot hold NUL)`,
      );
    }
  }
  return { ...environ as Record<string, string> };
}
