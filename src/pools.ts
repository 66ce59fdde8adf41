/**
 * Process groups: a pool of slots (Web Workers, or the embedded isolate)
 * with a fair queue and mod_wsgi's daemon-mode controls: maximum requests,
 * request, queue, inactivity and startup timeouts, crash restarts with
 * back-off, graceful restarts and shutdown.
 *
 * @module
 */

import type { GroupConfig, MountSpec } from "./config.ts";
import type { InterpreterSettings } from "./interpreters.ts";
import { log } from "./logging.ts";
import { buildResponse, errorResponse } from "./responses.ts";
import {
  EmbeddedSlot,
  type RequestBody,
  type Slot,
  SlotFailure,
  WorkerSlot,
} from "./workers.ts";

/** A snapshot of a group's state, for status pages and metrics. */
export interface GroupMetrics {
  name: string;
  mode: "workers" | "embedded";
  workers: { idle: number; busy: number; starting: number };
  queueLength: number;
  requests: number;
  restarts: number;
  timeouts: number;
  queueTimeouts: number;
  rejected: number;
  crashes: number;
}

interface Member {
  slot: Slot;
  state: "starting" | "idle" | "busy" | "retiring";
  served: number;
  idleTimer?: ReturnType<typeof setTimeout>;
  generation: number;
}

interface Waiter {
  resolve: (member: Member) => void;
  reject: (error: SlotFailure) => void;
  timer?: ReturnType<typeof setTimeout>;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * A named pool of interpreters that mounts are routed to: mod_wsgi's
 * `WSGIDaemonProcess`. Create one with `defineGroup()`.
 */
export class ProcessGroup {
  /** The validated options. */
  readonly config: GroupConfig;
  readonly #mounts: MountSpec[] = [];
  readonly #members = new Set<Member>();
  readonly #queue: Waiter[] = [];
  #generation = 0;
  #stopping = false;
  #failures = 0;
  #restartTimer?: ReturnType<typeof setTimeout>;
  #counters = {
    requests: 0,
    restarts: 0,
    timeouts: 0,
    queueTimeouts: 0,
    rejected: 0,
    crashes: 0,
  };

  constructor(config: GroupConfig) {
    this.config = config;
  }

  /** True in embedded mode (`processes: 0`). */
  get embedded(): boolean {
    return this.config.processes === 0;
  }

  #settings(): InterpreterSettings {
    const { name, pythonPath, pythonHome, home, env, preload } = this.config;
    return { group: name, pythonPath, pythonHome, home, env, preload };
  }

  /** Adds a mount; running workers load it at once. */
  attach(spec: MountSpec): void {
    this.#mounts.push(spec);
    for (const member of this.#members) member.slot.load(spec);
    this.#fill();
  }

  /** Starts slots until the pool has its configured size. */
  #fill(): void {
    if (this.#stopping || this.#mounts.length === 0) return;
    const wanted = Math.max(1, this.config.processes);
    let current = 0;
    for (const member of this.#members) {
      if (member.state !== "retiring") current++;
    }
    // With an inactivity timeout, workers start on demand, not eagerly.
    const onDemand = this.config.inactivityTimeout > 0 &&
      this.#queue.length === 0;
    if (onDemand && current > 0) return;
    for (; current < wanted; current++) {
      if (onDemand && current > 0) break;
      this.#start();
    }
  }

  #start(): void {
    const settings = this.#settings();
    const slot: Slot = this.embedded
      ? new EmbeddedSlot(settings, [...this.#mounts])
      : new WorkerSlot(settings, [...this.#mounts]);
    const member: Member = {
      slot,
      state: "starting",
      served: 0,
      generation: this.#generation,
    };
    this.#members.add(member);
    slot.onExit = (reason) => this.#crashed(member, reason);
    const startup = this.config.startupTimeout * 1000;
    const timer = startup > 0
      ? setTimeout(() => {
        if (member.state !== "starting") return;
        log(
          "error",
          `A worker did not start within startupTimeout (${this.config.startupTimeout} s); replacing it`,
          { group: this.config.name },
        );
        this.#crashed(member, "startup timeout");
      }, startup)
      : undefined;
    slot.ready.then(() => {
      clearTimeout(timer);
      if (member.state !== "starting") return;
      this.#failures = 0;
      log("info", "worker ready", { group: this.config.name });
      this.#release(member);
    }, (error) => {
      clearTimeout(timer);
      this.#crashed(member, `failed to start: ${error?.message ?? error}`);
    });
  }

  #crashed(member: Member, reason: string): void {
    if (!this.#members.has(member)) return;
    this.#members.delete(member);
    clearTimeout(member.idleTimer);
    member.slot.terminate();
    if (this.#stopping) return;
    this.#counters.crashes++;
    this.#failures++;
    log("error", `worker stopped: ${reason}`, { group: this.config.name });
    const delay = Math.min(
      MAX_BACKOFF_MS,
      this.#failures <= 1 ? 0 : 500 * 2 ** (this.#failures - 2),
    );
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#counters.restarts++;
      this.#fill();
    }, delay);
  }

  /** Hands a free member to the first waiter, or marks it idle. */
  #release(member: Member): void {
    if (!this.#members.has(member)) return;
    if (
      member.generation !== this.#generation ||
      (this.config.maximumRequests > 0 &&
        member.served >= this.config.maximumRequests)
    ) {
      this.#retire(member);
      return;
    }
    const waiter = this.#queue.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      member.state = "busy";
      waiter.resolve(member);
      return;
    }
    member.state = "idle";
    const idle = this.config.inactivityTimeout * 1000;
    if (idle > 0) {
      member.idleTimer = setTimeout(() => {
        if (member.state !== "idle") return;
        log("info", "idle worker released (inactivityTimeout)", {
          group: this.config.name,
        });
        this.#members.delete(member);
        member.slot.terminate();
      }, idle);
    }
  }

  /** Replaces a member: the new one starts, the old one goes. */
  #retire(member: Member): void {
    this.#members.delete(member);
    clearTimeout(member.idleTimer);
    member.slot.terminate();
    // Restarts of an older generation were counted by restart().
    if (member.generation === this.#generation) this.#counters.restarts++;
    this.#fill();
  }

  #acquire(): Promise<Member> {
    for (const member of this.#members) {
      if (member.state === "idle") {
        clearTimeout(member.idleTimer);
        member.state = "busy";
        return Promise.resolve(member);
      }
    }
    if (this.#queue.length >= this.config.queueLimit) {
      this.#counters.rejected++;
      return Promise.reject(
        new SlotFailure(503, `queue full (${this.config.queueLimit})`),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      const wait = this.config.queueTimeout * 1000;
      if (wait > 0) {
        waiter.timer = setTimeout(() => {
          const index = this.#queue.indexOf(waiter);
          if (index >= 0) this.#queue.splice(index, 1);
          this.#counters.queueTimeouts++;
          reject(new SlotFailure(503, "queue timeout"));
        }, wait);
      }
      this.#queue.push(waiter);
      this.#fill();
    });
  }

  /** Runs one request on a free slot and returns its streaming response. */
  async handle(
    spec: MountSpec,
    method: string,
    cgiJson: string,
    body: () => Promise<RequestBody>,
  ): Promise<Response> {
    if (this.#stopping) {
      return errorResponse(503, "Service Unavailable", { "retry-after": "1" });
    }
    let member: Member;
    try {
      member = await this.#acquire();
    } catch (error) {
      log("warn", `request rejected: ${(error as Error).message}`, {
        group: this.config.name,
        mount: spec.prefix,
      });
      return errorResponse(503, "Service Unavailable", { "retry-after": "5" });
    }
    this.#counters.requests++;
    member.served++;
    const slot = member.slot;
    let finished = false;
    let timedOut = false;
    const done = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (!timedOut) this.#release(member);
    };
    const limit = this.config.requestTimeout * 1000;
    let onTimeout: (() => void) | undefined;
    const timer = limit > 0
      ? setTimeout(() => {
        timedOut = true;
        this.#counters.timeouts++;
        log(
          "error",
          `request exceeded requestTimeout (${this.config.requestTimeout} s); the worker is replaced`,
          { group: this.config.name, mount: spec.prefix },
        );
        slot.interrupt();
        this.#members.delete(member);
        // Give Python a moment to unwind from KeyboardInterrupt, then stop.
        setTimeout(() => slot.terminate(), 200);
        this.#counters.restarts++;
        this.#fill();
        onTimeout?.();
      }, limit)
      : undefined;
    try {
      const head = await Promise.race([
        slot.begin(spec, cgiJson, await body()),
        new Promise<never>((_, reject) => {
          onTimeout = () => reject(new SlotFailure(504, "request timeout"));
        }),
      ]);
      onTimeout = undefined;
      return buildResponse(head, {
        next: () => slot.next(),
        cancel: () => slot.close(),
      }, {
        method,
        mount: spec.prefix,
        group: this.config.name,
        onDone: done,
      });
    } catch (error) {
      done();
      if (error instanceof SlotFailure) {
        const reason = error.status === 504
          ? "Gateway Timeout"
          : error.status === 502
          ? "Bad Gateway"
          : error.status === 503
          ? "Service Unavailable"
          : "Internal Server Error";
        return errorResponse(error.status, reason);
      }
      log("error", `gateway error: ${(error as Error)?.stack ?? error}`, {
        group: this.config.name,
        mount: spec.prefix,
      });
      return errorResponse(500, "Internal Server Error");
    }
  }

  /**
   * Graceful restart: new workers start at once; requests in flight finish
   * on the old ones, which then stop. Resolves when the new ones are ready.
   */
  async restart(): Promise<void> {
    this.#generation++;
    const old = [...this.#members];
    for (const member of old) {
      if (member.state === "idle" || member.state === "starting") {
        this.#members.delete(member);
        clearTimeout(member.idleTimer);
        member.slot.terminate();
      } else {
        member.state = "retiring";
      }
    }
    this.#counters.restarts += old.length;
    this.#fill();
    await Promise.all(
      [...this.#members].filter((m) => m.generation === this.#generation)
        .map((m) => m.slot.ready.catch(() => {})),
    );
  }

  /** Waits until at least one worker is ready (or failed to start). */
  async ready(): Promise<void> {
    this.#fill();
    await Promise.all(
      [...this.#members].map((m) => m.slot.ready.catch(() => {})),
    );
  }

  /**
   * Stops taking requests, lets those in flight run up to gracefulTimeout,
   * then terminates every worker.
   */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    for (const waiter of this.#queue.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new SlotFailure(503, "shutting down"));
    }
    const deadline = Date.now() + this.config.gracefulTimeout * 1000;
    while (
      [...this.#members].some((m) =>
        m.state === "busy" || m.state === "retiring"
      ) && Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const member of this.#members) {
      clearTimeout(member.idleTimer);
      member.slot.terminate();
    }
    this.#members.clear();
  }

  /** Counts for a status page or a Prometheus export. */
  metrics(): GroupMetrics {
    const workers = { idle: 0, busy: 0, starting: 0 };
    for (const member of this.#members) {
      if (member.state === "idle") workers.idle++;
      else if (member.state === "starting") workers.starting++;
      else workers.busy++;
    }
    return {
      name: this.config.name,
      mode: this.embedded ? "embedded" : "workers",
      workers,
      queueLength: this.#queue.length,
      ...this.#counters,
    };
  }
}
