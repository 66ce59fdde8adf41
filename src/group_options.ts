/**
 * defineGroup's options checked and their defaults filled in: a
 * GroupOptions becomes the GroupConfig the pool runs with. Every check
 * names the option it rejects and says what is expected.
 *
 * @module
 */

import {
  DEFAULT_ISOLATION,
  GROUP_DEFAULTS,
  type GroupConfig,
  type GroupOptions,
  MEMORY_LIMIT_MAX,
  MEMORY_LIMIT_MIN,
} from "./config.ts";
import {
  checkOptionNames,
  count,
  fail,
  folder,
  folders,
  outOfRange,
  seconds,
  snapshotOption,
} from "./option_checks.ts";

const GROUP_OPTION_NAMES = new Set([
  "processes",
  "isolation",
  "permissions",
  "maximumRequests",
  "spareWorkers",
  "memoryLimit",
  "requestTimeout",
  "queueTimeout",
  "queueLimit",
  "inactivityTimeout",
  "restartInterval",
  "cpuTimeLimit",
  "startupTimeout",
  "gracefulTimeout",
  "pythonPath",
  "pythonHome",
  "home",
  "env",
  "inheritEnv",
  "preload",
  "threads",
  "allowNet",
  "writable",
  "snapshot",
]);
/** Checks `allowNet`: Deno's `--allow-net` entries. */
function hostList(where: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const entry = /^(\*|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.*-]+)(:\d{1,5})?$/;
  if (
    !Array.isArray(value) ||
    value.some((item) => typeof item !== "string" || !entry.test(item))
  ) {
    throw fail(
      where,
      "allowNet",
      'an array of hosts in --allow-net form, such as ["127.0.0.1:5432", "api.example.com:443"]',
      value,
    );
  }
  return [...value];
}

/** Checks `memoryLimit`: bytes, 0 (none) or within the heap's range. */
function memoryLimit(where: string, raw: Record<string, unknown>): number {
  const bytes = count(where, raw, "memoryLimit", GROUP_DEFAULTS.memoryLimit);
  if (bytes !== 0 && (bytes < MEMORY_LIMIT_MIN || bytes > MEMORY_LIMIT_MAX)) {
    throw outOfRange(
      where,
      "memoryLimit",
      `0 (no limit) or a number of bytes from ${MEMORY_LIMIT_MIN} (64 MiB: a worker's heap starts at 30-40 MiB) to ${MEMORY_LIMIT_MAX} (4 GiB, the WebAssembly ceiling)`,
      bytes,
    );
  }
  return bytes;
}

/** Validates a group's options and fills in the defaults. */
export function resolveGroupOptions(
  name: string,
  options: GroupOptions = {},
): GroupConfig {
  const where = `defineGroup("${name}")`;
  if (typeof name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new TypeError(
      `defineGroup: the group name must be letters, digits, "_", "." or "-", got ${
        JSON.stringify(name)
      }`,
    );
  }
  const raw = checkOptionNames(options, {
    where,
    names: [...GROUP_OPTION_NAMES],
  });
  // What an option leaves out is taken from GROUP_DEFAULTS.
  const whole = (option: keyof typeof GROUP_DEFAULTS, min?: number) =>
    count(where, raw, option, GROUP_DEFAULTS[option], min);
  const time = (option: keyof typeof GROUP_DEFAULTS) =>
    seconds(where, raw, option, GROUP_DEFAULTS[option]);
  const env = options.env ?? {};
  if (
    typeof env !== "object" || env === null ||
    Object.values(env).some((v) => typeof v !== "string")
  ) {
    throw fail(where, "env", "an object of string values", env);
  }
  const inheritEnv = options.inheritEnv ?? true;
  if (
    typeof inheritEnv !== "boolean" &&
    !(Array.isArray(inheritEnv) &&
      inheritEnv.every((name) =>
        typeof name === "string" && /^[^=\0]+$/.test(name)
      ))
  ) {
    throw fail(
      where,
      "inheritEnv",
      "true, false or an array of variable names",
      inheritEnv,
    );
  }
  const preload = options.preload ?? [];
  if (
    !Array.isArray(preload) ||
    preload.some((m) => typeof m !== "string" || !/^[A-Za-z_][\w.]*$/.test(m))
  ) {
    throw fail(where, "preload", "an array of Python module names", preload);
  }
  let pythonHome: string | undefined;
  if (options.pythonHome !== undefined) {
    if (typeof options.pythonHome !== "string") {
      throw fail(
        where,
        "pythonHome",
        "a virtualenv folder",
        options.pythonHome,
      );
    }
    pythonHome = folder(where, "pythonHome", options.pythonHome);
  }
  let home: string | undefined;
  if (options.home !== undefined) {
    if (typeof options.home !== "string") {
      throw fail(where, "home", "a folder path", options.home);
    }
    home = folder(where, "home", options.home);
  }
  const processes = whole("processes");
  const isolation = options.isolation ?? DEFAULT_ISOLATION;
  if (isolation !== "thread" && isolation !== "process") {
    throw fail(where, "isolation", '"thread" or "process"', isolation);
  }
  const permissions = options.permissions;
  if (
    permissions !== undefined && permissions !== "inherit" &&
    (!Array.isArray(permissions) ||
      permissions.some((flag) =>
        typeof flag !== "string" ||
        !/^(-A|--allow-[a-z-]+(=.*)?|--deny-[a-z-]+(=.*)?)$/.test(flag)
      ))
  ) {
    throw fail(
      where,
      "permissions",
      '"inherit" or an array of Deno permission flags such as "--allow-net=example.com"',
      permissions,
    );
  }
  if (permissions !== undefined && processes === 0) {
    throw new TypeError(
      `${where}: option "permissions" applies to workers; processes: 0 runs Python embedded in the server, with the server's permissions, and cannot be sandboxed`,
    );
  }
  if (
    Array.isArray(permissions) && isolation === "thread" &&
    permissions.some((flag) => flag.startsWith("--deny-"))
  ) {
    throw new TypeError(
      `${where}: option "permissions": --deny-* flags apply to workers that are processes (a Web Worker takes allow-lists only); use isolation: "process" or drop them`,
    );
  }
  if (processes === 0 && options.isolation === "process") {
    throw new TypeError(
      `${where}: processes: 0 runs Python embedded in the server, which contradicts isolation: "process"; set processes to 1 or more`,
    );
  }
  const threads = whole("threads", 1);
  const spareWorkers = whole("spareWorkers");
  const cpuTimeLimit = time("cpuTimeLimit");
  if (cpuTimeLimit > 0 && processes === 0) {
    throw new TypeError(
      `${where}: option "cpuTimeLimit" needs workers of their own, and processes: 0 runs Python embedded in the server, whose CPU is the server's; set processes to 1 or more, or drop cpuTimeLimit`,
    );
  }
  if (spareWorkers > 0 && processes === 0) {
    throw new TypeError(
      `${where}: option "spareWorkers" needs workers of their own, and processes: 0 runs Python embedded in the server; set processes to 1 or more, or drop spareWorkers`,
    );
  }
  return {
    name,
    processes,
    isolation,
    threads,
    allowNet: hostList(where, options.allowNet),
    writable: folders(where, "writable", options.writable),
    snapshot: snapshotOption(where, options.snapshot),
    permissions: Array.isArray(permissions) ? [...permissions] : permissions,
    maximumRequests: whole("maximumRequests"),
    spareWorkers,
    memoryLimit: memoryLimit(where, raw),
    requestTimeout: time("requestTimeout"),
    queueTimeout: time("queueTimeout"),
    queueLimit: whole("queueLimit", 1),
    inactivityTimeout: time("inactivityTimeout"),
    restartInterval: time("restartInterval"),
    cpuTimeLimit,
    startupTimeout: time("startupTimeout"),
    gracefulTimeout: time("gracefulTimeout"),
    pythonPath: folders(where, "pythonPath", options.pythonPath),
    pythonHome,
    home,
    env: { ...env },
    inheritEnv: typeof inheritEnv === "boolean" ? inheritEnv : [...inheritEnv],
    preload: [...preload],
  };
}
