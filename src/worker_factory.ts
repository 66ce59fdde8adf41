/**
 * The real workers a group's pool starts: embedded (`processes: 0`), a child
 * process (`isolation: "process"`, with its Deno flags), or a Web Worker.
 *
 * @module
 */

import type { GroupConfig, MountSpec } from "./config.ts";
import { EmbeddedWorker } from "./embedded_worker.ts";
import { processPermissions, threadPermissions } from "./permissions.ts";
import type { InterpreterSettings } from "./protocol.ts";
import type { PythonWorker } from "./worker.ts";
import { ChannelWorker } from "./channel_worker.ts";
import { log } from "./logging.ts";
import { pyodideFolder } from "./compiled_pyodide.ts";

function mayRead(variable?: string): boolean {
  const descriptor = { name: "env", variable } as const;
  return Deno.permissions.querySync(descriptor).state === "granted";
}

/**
 * The server's environment as a group inherits it (`inheritEnv`), read
 * when a worker starts, as a daemon would inherit it when forked. HOME is
 * left to the interpreter (whose home exists inside it) unless listed.
 */
export function inheritedEnvironment(
  inherit: boolean | string[],
  group: string,
): Record<string, string> {
  if (inherit === false) return {};
  if (inherit === true) {
    if (!mayRead()) {
      log(
        "info",
        "inheritEnv: the server may not read its environment (--allow-env), so os.environ inherits nothing",
        { group },
      );
      return {};
    }
    const all = Deno.env.toObject();
    delete all.HOME;
    return all;
  }
  const chosen: Record<string, string> = {};
  for (const name of inherit) {
    const value = mayRead(name) ? Deno.env.get(name) : undefined;
    if (value !== undefined) chosen[name] = value;
  }
  return chosen;
}

/** What every interpreter of a group's worker is started with. */
export function settingsOf(config: GroupConfig): InterpreterSettings {
  const { pythonPath, pythonHome, home, env, preload, threads } = config;
  const { allowNet, writable, memoryLimit, cpuTimeLimit } = config;
  const inheritedEnv = inheritedEnvironment(config.inheritEnv, config.name);
  const { snapshot } = config;
  return {
    group: config.name,
    ...{ pythonPath, pythonHome, home, env, preload, threads },
    ...{ allowNet, writable, snapshot, inheritedEnv, memoryLimit },
    cpuTimeLimit,
    pyodideFolder: pyodideFolder(),
  };
}

let warnedEmbedded = false;
let workerOptions: boolean | undefined;

/**
 * True when this Deno lets a Web Worker run with narrower permissions
 * (`--unstable-worker-options`): the constructor refuses them otherwise.
 */
function workerOptionsAvailable(): boolean {
  if (workerOptions === undefined) {
    try {
      new Worker("data:text/javascript,self.close()", {
        type: "module",
        deno: { permissions: "inherit" },
      } as WorkerOptions).terminate();
      workerOptions = true;
    } catch {
      workerOptions = false;
    }
  }
  return workerOptions;
}

function denoPath(): string {
  try {
    return Deno.execPath();
  } catch {
    return "deno"; // --allow-read does not cover Deno's own path
  }
}

function mayRunDeno(): boolean {
  const command = denoPath();
  return Deno.permissions.querySync({ name: "run", command }).state ===
    "granted";
}

/**
 * Refuses, when a group is defined, what its workers could not start with,
 * and says once per server that embedded groups are not sandboxed.
 */
export function checkIsolation(config: GroupConfig): void {
  if (config.processes === 0) {
    if (!warnedEmbedded) {
      warnedEmbedded = true;
      log(
        "warn",
        "embedded mode (processes: 0) runs Python in the server's own isolate with every permission the server has: `import js` reaches Deno's files, environment, processes and network as the server does. Use processes: 1 or more for the sandbox",
        { group: config.name },
      );
    }
    return;
  }
  if (config.isolation === "process" && !mayRunDeno()) {
    throw new TypeError(
      `defineGroup("${config.name}"): isolation: "process" (the default) starts each worker as a child Deno process, which needs the server started with --allow-run (at least --allow-run=${denoPath()}); add it, or use isolation: "thread" with --unstable-worker-options`,
    );
  }
  if (
    config.isolation === "thread" && config.permissions !== "inherit" &&
    !workerOptionsAvailable()
  ) {
    throw new TypeError(
      `defineGroup("${config.name}"): isolation: "thread" sandboxes its Web Workers through Deno's worker permissions, which need the server started with --unstable-worker-options; add that flag, use isolation: "process" (the default), or give permissions: "inherit" to run Python with the server's permissions`,
    );
  }
}

/** Starts the worker a group's options ask for. */
export function createWorker(
  config: GroupConfig,
  mounts: MountSpec[],
): { python: PythonWorker; reads?: string[] } {
  const settings = settingsOf(config);
  if (config.processes === 0) {
    const worker = new EmbeddedWorker(settings, mounts, {
      requestTimeout: config.requestTimeout,
    });
    return { python: worker };
  }
  if (config.isolation === "process") {
    const env = { ...settings.inheritedEnv, ...settings.env };
    const { flags, reads } = processPermissions(config, mounts, env);
    const worker = new ChannelWorker(settings, mounts, {
      isolation: "process",
      permissions: flags,
    });
    return { python: worker, reads };
  }
  const env = { ...settings.inheritedEnv, ...settings.env };
  const { permissions, reads } = threadPermissions(config, mounts, env);
  const worker = new ChannelWorker(settings, mounts, {
    threadPermissions: permissions,
  });
  return { python: worker, reads };
}
