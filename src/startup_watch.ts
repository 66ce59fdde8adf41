/**
 * startupTimeout, as mod_wsgi's startup-timeout: a starting worker is up
 * within it or is stopped, and a worker whose WSGI script has not loaded
 * within it is replaced (maybe what the script needed at import is back).
 * The log says when a worker is up, and which of its scripts failed.
 * supervisor.ts starts the workers and stops them.
 *
 * @module
 */

import type { GroupConfig, MountSpec } from "./config.ts";
import { log } from "./logging.ts";
import type { WorkerRecord } from "./records.ts";
import type { Supervisor } from "./supervisor.ts";

/** Watches the start of one group's workers and the loading of their scripts. */
export class StartupWatch {
  readonly #config: GroupConfig;
  readonly #mounts: readonly MountSpec[];
  readonly #supervisor: Supervisor;

  constructor(
    config: GroupConfig,
    parts: { mounts: readonly MountSpec[]; supervisor: Supervisor },
  ) {
    this.#config = config;
    this.#mounts = parts.mounts;
    this.#supervisor = parts.supervisor;
  }

  /**
   * Watches a worker that starts now: it is stopped if it is not up
   * within startupTimeout or fails to start; once up, `up` is called.
   */
  watch(worker: WorkerRecord, up: (worker: WorkerRecord) => void): void {
    const supervisor = this.#supervisor;
    const startup = this.#config.startupTimeout * 1000;
    const timer = startup > 0
      ? setTimeout(() => {
        if (worker.state !== "starting") return;
        supervisor.stop(worker, {
          failure:
            `it did not start within startupTimeout (${this.#config.startupTimeout} s)`,
        });
      }, startup)
      : undefined;
    worker.python.ready.then(() => {
      clearTimeout(timer);
      if (worker.state !== "starting" || !supervisor.workers.has(worker)) {
        return;
      }
      // Up and running: the next failure restarts at once again. A script
      // that failed to load is startupTimeout's business too (see loaded).
      supervisor.backoff.succeeded();
      if (worker.failing.size === 0) {
        log("info", worker.spare ? "spare worker ready" : "worker ready", {
          group: this.#config.name,
        });
      } else {
        log(
          "error",
          `worker started, but WSGI script ${
            this.#scriptsOf(worker.failing)
          } failed to load (traceback above); it answers 500 there and tries again on later requests`,
          { group: this.#config.name },
        );
      }
      up(worker);
    }, (error) => {
      clearTimeout(timer);
      supervisor.stop(worker, {
        failure: `it failed to start: ${error?.message ?? error}`,
      });
    });
  }

  /**
   * Throws if a mount's script failed to load in every worker that is up
   * (its traceback is in the log).
   */
  checkLoaded(spec: MountSpec): void {
    const up = [...this.#supervisor.workers].filter((w) =>
      w.state !== "starting"
    );
    if (up.length > 0 && up.every((w) => w.failing.has(spec.id))) {
      throw new Error(
        `WSGI script ${spec.scriptPath} failed to load (its traceback is in the log); requests for it answer 500 and load it again`,
      );
    }
  }

  /** The script paths of some mounts, for the log. */
  #scriptsOf(mountIds: Set<string>): string {
    return this.#mounts.filter((m) => mountIds.has(m.id))
      .map((m) => m.scriptPath).join(", ");
  }

  /**
   * Tracks scripts that fail to load. Like mod_wsgi's startup-timeout, a
   * worker whose script has not loaded successfully within startupTimeout
   * is replaced: maybe what the script needed at import (a database, a
   * file) is back. Until then it answers 500 for that mount, and each
   * request retries the load (at most once a second). The clock starts
   * with the worker for the scripts it starts with, and at the failure for
   * a script mounted later.
   */
  loaded(worker: WorkerRecord, mountId: string, ok: boolean): void {
    if (ok) {
      if (!worker.failing.delete(mountId)) return;
      if (worker.failing.size === 0) {
        clearTimeout(worker.failingTimer);
        worker.failingTimer = undefined;
      }
      return;
    }
    worker.failing.add(mountId);
    const limit = this.#config.startupTimeout * 1000;
    if (worker.failingTimer !== undefined || limit === 0) return;
    const due = worker.state === "starting"
      ? worker.startedAt + limit
      : Date.now() + limit;
    worker.failingTimer = setTimeout(() => {
      worker.failingTimer = undefined;
      if (worker.failing.size === 0 || !this.#supervisor.workers.has(worker)) {
        return;
      }
      const scripts = this.#scriptsOf(worker.failing);
      const reason =
        `its WSGI script ${scripts} did not load within startupTimeout (${this.#config.startupTimeout} s)`;
      if (worker.state === "idle") {
        this.#supervisor.stop(worker, { failure: reason });
      } else {
        // The request in flight finishes first; see Recycling.stopIfDue.
        worker.stopWhenDone = reason;
      }
    }, Math.max(0, due - Date.now()));
  }
}
