/**
 * What a group's workers may do through Deno (Python reaches all of Deno
 * through `import js`): the sandbox. By default a worker may read only what
 * it runs (Pyodide's package files, this library's `src/`, the scripts'
 * folders, `pythonPath`, `pythonHome`, `home`), write only its `writable`
 * folders and the snapshot folder, connect only to `allowNet` (or where the
 * server may), and nothing else: no environment, processes, FFI or system
 * information. The group's `permissions` adds flags to that, or
 * `"inherit"` gives the worker the server's own permissions.
 *
 * Rendered as `--allow-*` flags for a child process, or as a Web Worker's
 * `deno.permissions` (which needs `--unstable-worker-options`).
 *
 * @module
 */

import { dirname } from "node:path";
import { pyodideFolder } from "./compiled_pyodide.ts";
import type { GroupConfig, MountSpec } from "./config.ts";
import { caBundleFolders } from "./host_folders.ts";

const PERMISSION_NAMES = [
  "read",
  "write",
  "net",
  "env",
  "sys",
  "run",
  "ffi",
  "import",
] as const;

type PermissionName = typeof PERMISSION_NAMES[number];

/** One permission: all of it, or a list of paths, hosts or names. */
type Grant = true | string[];

/** What a worker may do; a permission left out is denied. */
type Grants = Partial<Record<PermissionName, Grant>>;

/** Where the sandbox's reads of this library come from: its `src/` only. */
const LIBRARY_CODE = new URL("./", import.meta.url).pathname.replace(/\/$/, "");

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false; // a permission this Deno does not know
  }
}

/** The permissions this process holds in full, as flags for a child. */
function inheritedPermissions(): string[] {
  return PERMISSION_NAMES.filter((name) =>
    granted({ name } as Deno.PermissionDescriptor)
  ).map((name) => `--allow-${name}`);
}

/** Parses `--allow-*` flags; `--deny-*` flags are kept as they are. */
function parseFlags(flags: string[]): { grants: Grants; deny: string[] } {
  const grants: Grants = {};
  const deny: string[] = [];
  for (const flag of flags) {
    if (flag === "-A" || flag === "--allow-all") {
      for (const name of PERMISSION_NAMES) grants[name] = true;
      continue;
    }
    const match = /^--allow-([a-z-]+)(?:=(.*))?$/.exec(flag);
    if (!match) {
      deny.push(flag);
      continue;
    }
    const name = match[1] as PermissionName;
    if (!PERMISSION_NAMES.includes(name)) {
      deny.push(flag); // another --allow-* flag Deno knows (e.g. hrtime)
      continue;
    }
    const before = grants[name];
    if (match[2] === undefined || before === true) grants[name] = true;
    else grants[name] = [...(before ?? []), ...match[2].split(",")];
  }
  return { grants, deny };
}

/**
 * What a worker must read: Pyodide, this library's code, the apps, and
 * the CA bundles its environment names (`SSL_CERT_FILE`...).
 */
function neededReads(
  config: GroupConfig,
  mounts: MountSpec[],
  env: Record<string, string>,
): string[] {
  const reads = new Set<string>([
    ...caBundleFolders(env).keys(),
    LIBRARY_CODE,
    ...config.pythonPath,
  ]);
  // The same folder the worker is told to load Pyodide from.
  const pyodide = pyodideFolder();
  if (pyodide) reads.add(pyodide.slice(0, -1));
  if (config.home) reads.add(config.home);
  if (config.pythonHome) reads.add(config.pythonHome);
  for (const path of config.writable) reads.add(path);
  if (config.snapshot) reads.add(config.snapshot.folder);
  for (const spec of mounts) {
    reads.add(dirname(spec.scriptPath));
    for (const path of spec.pythonPath) reads.add(path);
  }
  return [...reads];
}

export function covered(path: string, reads: string[]): boolean {
  return reads.some((read) => path === read || path.startsWith(read + "/"));
}

/**
 * True when a worker that may read `reads` (undefined: anything) can load
 * a mount: its script's folder and its pythonPath.
 */
export function readable(spec: MountSpec, reads?: string[]): boolean {
  if (!reads) return true;
  const folders = [dirname(spec.scriptPath), ...spec.pythonPath];
  return folders.every((folder) => covered(folder, reads));
}

/**
 * The folders a worker writes: the group's `writable` ones and the
 * snapshot folder, each only where the server itself may write, so a
 * worker never gets more than the server has; a folder the server may not
 * write stays closed, and Python's error names the missing flag
 * (python/files.py).
 */
function writes(config: GroupConfig): string[] {
  const wanted = [...config.writable];
  if (config.snapshot?.write) wanted.push(config.snapshot.folder);
  return wanted.filter((path) => granted({ name: "write", path }));
}

/** Where a worker may connect: `allowNet`, else `server` (the server's). */
function network(
  config: GroupConfig,
  given: Grant | undefined,
): Grant | "server" | undefined {
  if (config.allowNet) {
    return config.allowNet.includes("*") ? true : [...config.allowNet];
  }
  return given ?? "server";
}

/** A worker's permissions: the sandbox widened by `permissions`. */
interface Sandbox {
  grants: Grants;
  /** The network: as granted, or the server's own (`"server"`). */
  net?: Grant | "server";
  deny: string[];
  /** What it may read; undefined when reading is unrestricted. */
  reads?: string[];
}

function sandbox(
  config: GroupConfig,
  mounts: MountSpec[],
  env: Record<string, string>,
): Sandbox {
  const { permissions } = config;
  const { grants, deny } = parseFlags(
    permissions === "inherit" ? inheritedPermissions() : permissions ?? [],
  );
  const net = network(config, grants.net);
  delete grants.net;
  if (grants.write !== true) {
    const folders = [...(grants.write ?? []), ...writes(config)];
    if (folders.length > 0) grants.write = [...new Set(folders)];
  }
  if (grants.read === true) return { grants, net, deny };
  const reads = [
    ...new Set([...neededReads(config, mounts, env), ...grants.read ?? []]),
  ];
  grants.read = reads;
  return { grants, net, deny, reads };
}

function everything(grants: Grants, net: Sandbox["net"]): boolean {
  return net === true &&
    PERMISSION_NAMES.every((name) => name === "net" || grants[name] === true);
}

/**
 * The Deno flags of a process worker. Returns the reads granted, or
 * undefined when reading is unrestricted.
 */
export function processPermissions(
  config: GroupConfig,
  mounts: MountSpec[],
  env: Record<string, string> = config.env,
): { flags: string[]; reads?: string[] } {
  const { grants, deny, reads, net: wanted } = sandbox(config, mounts, env);
  let net = wanted;
  // A child process cannot inherit a list it cannot see: the server's
  // network passes on only when the server may connect anywhere.
  if (net === "server") {
    net = granted({ name: "net" }) ? true : undefined;
  }
  if (everything(grants, net) && deny.length === 0) {
    return { flags: ["--allow-all"] };
  }
  const flags: string[] = [];
  for (const name of PERMISSION_NAMES) {
    const grant = name === "net" ? net : grants[name];
    if (grant === true) flags.push(`--allow-${name}`);
    else if (grant && grant.length > 0) {
      flags.push(`--allow-${name}=${grant.join(",")}`);
    }
  }
  return { flags: [...flags, ...deny], reads };
}

/**
 * A Web Worker's `deno.permissions`, the same sandbox as a process
 * worker's flags (the network, when `allowNet` is not given, is inherited
 * from the server as it is, allow-list included).
 */
export function threadPermissions(
  config: GroupConfig,
  mounts: MountSpec[],
  env: Record<string, string> = config.env,
): { permissions: Deno.PermissionOptions; reads?: string[] } {
  if (config.permissions === "inherit") return { permissions: "inherit" };
  const { grants, net, deny, reads } = sandbox(config, mounts, env);
  if (deny.length > 0) {
    // Checked in config.ts; kept here so this can never widen silently.
    throw new TypeError(
      `option "permissions": ${deny.join(" ")} cannot apply to a Web Worker`,
    );
  }
  const permissions: Deno.PermissionOptionsObject = {
    env: false,
    sys: false,
    run: false,
    ffi: false,
    import: false,
    write: false,
    net: false,
  };
  for (const name of PERMISSION_NAMES) {
    const grant = name === "net" ? net : grants[name];
    if (grant === undefined) continue;
    // true here means "as the server has it": a worker cannot hold more.
    (permissions as Record<string, unknown>)[name] =
      grant === true || grant === "server" ? "inherit" : grant;
  }
  return { permissions, reads };
}

/**
 * `flags` that also let a process connect to the Unix socket at `path`
 * (a worker process's channel): Deno asks read, write and net
 * (`unix:path`) for it. A bare `--allow-read` stays as it is: a second
 * `--allow-read=path` after it would narrow it to that path.
 */
export function allowSocket(flags: string[], path: string): string[] {
  if (flags.includes("--allow-all") || flags.includes("-A")) return flags;
  let out = [...flags];
  const wanted = { read: path, write: path, net: `unix:${path}` };
  for (const [name, value] of Object.entries(wanted)) {
    if (out.includes(`--allow-${name}`)) continue;
    const at = out.findIndex((flag) => flag.startsWith(`--allow-${name}=`));
    if (at >= 0) out[at] = `${out[at]},${value}`;
    else out = [...out, `--allow-${name}=${value}`];
  }
  return out;
}
