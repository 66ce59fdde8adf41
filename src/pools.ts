/**
 * Process groups: a pool of slots (Web Workers, child processes, or the
 * embedded isolate) with a fair queue and mod_wsgi's daemon-mode controls:
 * maximum requests, request, queue, inactivity and startup timeouts, crash
 * restarts with back-off, graceful restarts and shutdown.
 *
 * @module
 */

import { dirname } from "node:path";
import { covered } from "./permissions.ts";
import type { GroupConfig, MountSpec } from "./config.ts";
import { log } from "./logging.ts";
import type { Lease, Member, Turn } from "./members.ts";
import { pipelinedCount, pipelineTarget, stealFrom } from "./pipelining.ts";
import { WaitQueue } from "./wait_queue.ts";
import {
  createCounters,
  type GroupMetrics,
  LatencyHistogram,
} from "./metrics.ts";
import type { ResponseHead } from "./protocol.ts";
import type { RequestBody } from "./request_body.ts";
import { type Slot, type SlotFactory, SlotFailure } from "./slot.ts";

/**
 * A request that Python has started answering: its head, then its body one
 * chunk at a time. `done()` must be called once when the exchange is over,
 * however it ended, so the worker can take its next request.
 */
export interface Exchange {
  head: ResponseHead;
  /** The next body chunk; rejects when the application failed. */
  next(): Promise<{ chunk?: Uint8Array; done: boolean }>;
  /** Closes the application's iterable (the client went away). */
  cancel(): void;
  done(): void;
}

/** Why no worker answered a request: an HTTP status, and when to retry. */
export class GatewayError extends Error {
  /** 400, 500, 502, 503 or 504. */
  readonly status: number;
  /** Seconds a client should wait before trying again (503). */
  readonly retryAfter?: number;
  constructor(status: number, message: string, retryAfter?: number) {
    super(message);
    this.name = "GatewayError";
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/**
 * How long a timed-out request in a group with threads may take to stop
 * after abort() before its worker is replaced.
 */
const ABORT_GRACE_MS = 2000;

/** How often a request that never started is tried on another worker. */
const MAX_RETRIES = 3;

const MAX_BACKOFF_MS = 30_000;

/** Seconds a client is told to wait before trying an overloaded group again. */
const OVERLOAD_RETRY_AFTER = 5;

/**
 * A group's pool of workers: the queue, pipelining, supervision and the
 * request timeouts. Its public face is groups.ts's `ProcessGroup`.
 */
export class Pool {
  /** The validated options. */
  readonly config: GroupConfig;

  /** The group's name. */
  get name(): string {
    return this.config.name;
  }
  readonly #mounts: MountSpec[] = [];
  readonly #members = new Set<Member>();
  readonly #queue = new WaitQueue();
  #generation = 0;
  #stopping = false;
  /** Workers in a row that crashed or could not load their scripts. */
  #failures = 0;
  #restartTimer?: ReturnType<typeof setTimeout>;
  #restartAt = 0;
  #fillScheduled = false;
  #filling = false;
  #stealTimer?: ReturnType<typeof setTimeout>;
  #counters = createCounters();
  readonly #latency = new LatencyHistogram();

  readonly #createSlot: SlotFactory;

  /** Use `defineGroup()`, which gives the pool the real slots. */
  constructor(config: GroupConfig, createSlot: SlotFactory) {
    this.config = config;
    this.#createSlot = createSlot;
  }

  /** True in embedded mode (`processes: 0`). */
  get embedded(): boolean {
    return this.config.processes === 0;
  }

  /**
   * Adds a mount. Running workers load it at once; the first workers start
   * after the current task, so that mounts added together start together.
   */
  attach(spec: MountSpec): void {
    this.#mounts.push(spec);
    let unreadable = false;
    for (const member of this.#members) {
      const folders = [dirname(spec.scriptPath), ...spec.pythonPath];
      if (member.reads && !folders.every((f) => covered(f, member.reads!))) {
        unreadable = true;
      } else {
        member.slot.load(spec);
      }
    }
    // A process worker started before this mount cannot read its folder.
    if (unreadable) this.restart().catch(() => {});
    if (!this.#fillScheduled) {
      this.#fillScheduled = true;
      queueMicrotask(() => {
        this.#fillScheduled = false;
        this.#fill();
      });
    }
  }

  /** Starts slots until the pool has its configured size. */
  #fill(): void {
    if (this.#stopping || this.#mounts.length === 0) return;
    // While backing off after crashes, only the restart timer starts workers.
    if (this.#restartTimer !== undefined) return;
    // Creating the first Web Worker of the process can run queued
    // microtasks (Deno loads the Worker code lazily), and one of them may
    // be another #fill: that one leaves the starting to this one.
    if (this.#filling) return;
    this.#filling = true;
    try {
      const wanted = Math.max(1, this.config.processes);
      while (this.#live() < this.#target(wanted)) this.#start();
    } finally {
      this.#filling = false;
    }
  }

  #live(): number {
    let current = 0;
    for (const member of this.#members) {
      if (member.state !== "retiring") current++;
    }
    return current;
  }

  /**
   * How many workers should be up. With an inactivity timeout, workers
   * start on demand, not eagerly: one, and one more for each request that
   * waits.
   */
  #target(wanted: number): number {
    if (this.config.inactivityTimeout === 0) return wanted;
    let busy = 0;
    for (const member of this.#members) {
      if (member.state === "busy") busy++;
    }
    return Math.min(wanted, busy + Math.max(1, this.#queue.length));
  }

  #start(): void {
    this.#counters.starts++;
    const { slot, reads } = this.#createSlot(this.config, [...this.#mounts]);
    const member: Member = {
      slot,
      state: "starting",
      served: 0,
      generation: this.#generation,
      failing: new Set(),
      startedAt: Date.now(),
      reads,
      pending: 0,
      turns: [],
      dropping: 0,
      since: 0,
    };
    this.#members.add(member);
    slot.onExit = (reason) => this.#crashed(member, reason);
    slot.onLoad = (mountId, ok) => this.#loaded(member, mountId, ok);
    slot.onDropped = () => {
      member.dropping--;
      this.#release(member);
    };
    slot.onStuck = (cpu) => {
      this.#counters.stuck++;
      log(
        "error",
        `a terminated worker thread keeps running (${cpu} ms of CPU per second): Python is stuck where it cannot be interrupted, and Deno cannot stop a Web Worker; it holds a core until the server restarts. Use isolation: "process" for this group.`,
        { group: this.config.name },
      );
    };
    const startup = this.config.startupTimeout * 1000;
    const timer = startup > 0
      ? setTimeout(() => {
        if (member.state !== "starting") return;
        this.#crashed(
          member,
          `it did not start within startupTimeout (${this.config.startupTimeout} s)`,
        );
      }, startup)
      : undefined;
    slot.ready.then(() => {
      clearTimeout(timer);
      if (member.state !== "starting" || !this.#members.has(member)) return;
      // Up and running: the next crash restarts at once again. A script
      // that failed to load is startupTimeout's business (#loaded).
      this.#failures = 0;
      if (member.failing.size === 0) {
        log("info", "worker ready", { group: this.config.name });
      } else {
        log(
          "error",
          `worker started, but WSGI script ${
            this.#scriptsOf(member.failing)
          } failed to load (traceback above); it answers 500 there and tries again on later requests`,
          { group: this.config.name },
        );
      }
      this.#release(member);
    }, (error) => {
      clearTimeout(timer);
      this.#crashed(member, `it failed to start: ${error?.message ?? error}`);
    });
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
  #loaded(member: Member, mountId: string, ok: boolean): void {
    if (ok) {
      if (!member.failing.delete(mountId)) return;
      if (member.failing.size === 0) {
        clearTimeout(member.failingTimer);
        member.failingTimer = undefined;
      }
      return;
    }
    member.failing.add(mountId);
    const limit = this.config.startupTimeout * 1000;
    if (member.failingTimer !== undefined || limit === 0) return;
    const due = member.state === "starting"
      ? member.startedAt + limit
      : Date.now() + limit;
    member.failingTimer = setTimeout(() => {
      member.failingTimer = undefined;
      if (member.failing.size === 0 || !this.#members.has(member)) return;
      const scripts = this.#scriptsOf(member.failing);
      const reason =
        `its WSGI script ${scripts} did not load within startupTimeout (${this.config.startupTimeout} s)`;
      if (member.state === "idle") {
        this.#crashed(member, reason);
      } else {
        // The request in flight finishes first; see #release.
        member.condemned = reason;
      }
    }, Math.max(0, due - Date.now()));
  }

  #scriptsOf(mountIds: Set<string>): string {
    return this.#mounts.filter((m) => mountIds.has(m.id))
      .map((m) => m.scriptPath).join(", ");
  }

  #backoff(): number {
    return Math.min(
      MAX_BACKOFF_MS,
      this.#failures <= 1 ? 0 : 500 * 2 ** (this.#failures - 2),
    );
  }

  #crashed(member: Member, reason: string): void {
    if (!this.#members.has(member)) return;
    this.#forget(member);
    member.slot.terminate();
    this.#failed(reason);
  }

  /** Counts a failed worker and schedules its replacement, backing off. */
  #failed(reason: string): void {
    if (this.#stopping) return;
    this.#counters.crashes++;
    this.#failures++;
    const delay = this.#backoff();
    log(
      "error",
      `worker stopped: ${reason}; restarting it${
        delay ? ` in ${delay / 1000} s` : ""
      }`,
      { group: this.config.name },
    );
    clearTimeout(this.#restartTimer);
    this.#restartAt = Date.now() + delay;
    // Requests whose queueTimeout ends before the restart cannot be served:
    // say so now rather than let them wait it out.
    if (!this.#serving()) this.#rejectQueue();
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#counters.restarts++;
      this.#fill();
    }, delay);
  }

  /** True when some worker is up (idle or busy), so the queue will move. */
  #serving(): boolean {
    for (const member of this.#members) {
      if (member.state === "idle" || member.state === "busy") return true;
    }
    return false;
  }

  #rejectQueue(): void {
    this.#counters.rejected += this.#queue.rejectBefore(
      this.#restartAt,
      () => this.#backingOff(),
    );
  }

  #backingOff(): SlotFailure {
    const seconds = Math.ceil((this.#restartAt - Date.now()) / 1000);
    return new SlotFailure(
      503,
      `the group's workers keep failing; next start in ${seconds} s`,
    );
  }

  #forget(member: Member): void {
    this.#members.delete(member);
    // Pipelined requests go on, to find their worker gone and retry.
    for (const turn of member.turns.splice(0)) turn("start");
    clearTimeout(member.idleTimer);
    clearTimeout(member.failingTimer);
  }

  #pipelined(): number {
    return pipelinedCount(this.#members);
  }

  /** A busy worker to hand a request to ahead of time (see pipelining.ts). */
  #pipelineTarget(): Member | undefined {
    if (
      this.embedded || this.config.threads > 1 ||
      this.#pipelined() >= this.config.queueLimit
    ) {
      return undefined;
    }
    return pipelineTarget(
      this.#members,
      this.#generation,
      this.config.maximumRequests,
    );
  }

  #pipeline(member: Member, deadline: number): Lease {
    member.pending++;
    member.served++;
    const turn = new Promise<Turn>((resolve) => member.turns.push(resolve));
    return { member, turn, deadline };
  }

  /** A request on `member` is over: hands the worker on, or marks it idle. */
  #release(member: Member): void {
    if (!this.#members.has(member)) return;
    member.pending = Math.max(0, member.pending - 1);
    if (member.pending > 0 && this.config.threads > 1) {
      // Its other threads run on; this one takes the next waiting request.
      const waiter = this.#takesMore(member) ? this.#queue.take() : undefined;
      if (waiter) {
        member.pending++;
        member.served++;
        waiter.resolve({ member, deadline: waiter.deadline });
      }
      return;
    }
    if (member.pending > 0) {
      // The next pipelined request runs now; keep the worker fed.
      member.turns.shift()?.("start");
      member.since = Date.now();
      while (
        this.#queue.first()?.pipelinable && this.#pipelineTarget() === member
      ) {
        const waiter = this.#queue.take()!;
        waiter.resolve(this.#pipeline(member, waiter.deadline));
      }
      return;
    }
    if (member.condemned !== undefined) {
      this.#forget(member);
      member.slot.terminate();
      this.#failed(member.condemned);
      return;
    }
    if (
      member.generation !== this.#generation ||
      (this.config.maximumRequests > 0 &&
        member.served >= this.config.maximumRequests)
    ) {
      this.#retire(member);
      return;
    }
    const waiter = this.#queue.take();
    if (waiter) {
      member.state = "busy";
      member.pending = 1;
      member.served++;
      member.since = Date.now();
      waiter.resolve({ member, deadline: waiter.deadline });
      // With threads, a free worker takes as many as it has threads for.
      while (this.config.threads > 1 && this.#takesMore(member)) {
        const next = this.#queue.take();
        if (!next) break;
        member.pending++;
        member.served++;
        next.resolve({ member, deadline: next.deadline });
      }
      return;
    }
    member.state = "idle";
    this.#steal();
    const idle = this.config.inactivityTimeout * 1000;
    if (idle > 0) {
      member.idleTimer = setTimeout(() => {
        if (member.state !== "idle") return;
        log("info", "idle worker released (inactivityTimeout)", {
          group: this.config.name,
        });
        this.#forget(member);
        member.slot.terminate();
      }, idle);
    }
  }

  /**
   * KeyboardInterrupt first, so that finally blocks and close() run; then
   * the worker goes anyway, as mod_wsgi restarts the process: the app's
   * state after an interrupt cannot be trusted.
   */
  #replaceInterrupted(member: Member): void {
    member.slot.interrupt();
    this.#forget(member);
    setTimeout(() => member.slot.terminate(), 200);
    this.#counters.restarts++;
    this.#fill();
  }

  /** Replaces a member: the new one starts, the old one goes. */
  #retire(member: Member): void {
    this.#forget(member);
    member.slot.terminate();
    // Restarts of an older generation were counted by restart().
    if (member.generation === this.#generation) this.#counters.restarts++;
    this.#fill();
  }

  /** True when a busy worker has a thread free for one more request. */
  #takesMore(member: Member): boolean {
    const max = this.config.maximumRequests;
    return member.state === "busy" && member.pending < this.config.threads &&
      member.generation === this.#generation &&
      member.condemned === undefined && (max === 0 || member.served < max);
  }

  #acquire(pipelinable: boolean): Promise<Lease> {
    const wait = this.config.queueTimeout * 1000;
    const deadline = wait > 0 ? Date.now() + wait : Infinity;
    let threaded: Member | undefined;
    for (const member of this.#members) {
      if (member.state === "idle") {
        clearTimeout(member.idleTimer);
        member.state = "busy";
        member.pending = 1;
        member.served++;
        member.since = Date.now();
        return Promise.resolve({ member, deadline });
      }
      if (
        this.config.threads > 1 && this.#takesMore(member) &&
        (!threaded || member.pending < threaded.pending)
      ) threaded = member;
    }
    if (threaded) {
      threaded.pending++;
      threaded.served++;
      return Promise.resolve({ member: threaded, deadline });
    }
    if (pipelinable && this.#queue.length === 0) {
      const member = this.#pipelineTarget();
      if (member) return Promise.resolve(this.#pipeline(member, deadline));
    }
    if (this.#queue.length + this.#pipelined() >= this.config.queueLimit) {
      this.#counters.rejected++;
      return Promise.reject(
        new SlotFailure(503, `queue full (${this.config.queueLimit})`),
      );
    }
    if (
      this.#restartTimer !== undefined && !this.#serving() &&
      deadline < this.#restartAt
    ) {
      this.#counters.rejected++;
      return Promise.reject(this.#backingOff());
    }
    const waiting = this.#queue.wait(
      deadline,
      wait,
      pipelinable,
      () => this.#counters.queueTimeouts++,
    );
    this.#fill();
    return waiting;
  }

  /**
   * A worker fell idle while another holds pipelined requests (behind a
   * slow one, maybe): the last of those moves to the idle worker.
   */
  #steal(): void {
    clearTimeout(this.#stealTimer);
    this.#stealTimer = undefined;
    if (![...this.#members].some((m) => m.state === "idle")) return;
    const { from, retryAt } = stealFrom(this.#members, Date.now());
    if (from) {
      from.turns.pop()?.("steal");
    } else if (retryAt !== undefined) {
      this.#stealTimer = setTimeout(() => this.#steal(), retryAt - Date.now());
    }
  }

  /**
   * Waits until a pipelined request starts, and resolves "start" then.
   * When the worker gave it back, resolves "timeout" (its queueTimeout
   * ended: the caller answers 503) or "moved" (a worker fell idle: the
   * caller runs it again from the queue).
   */
  async #awaitTurn(
    lease: Lease,
    slot: Slot,
    id: number,
  ): Promise<"start" | "timeout" | "moved"> {
    if (!lease.turn) return "start";
    const left = lease.deadline - Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const how = left === Infinity ? await lease.turn : await Promise.race([
      lease.turn,
      new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), Math.max(0, left));
      }),
    ]);
    clearTimeout(timer);
    if (how === "start") return "start";
    const { member } = lease;
    const index = member.turns.length;
    if (await slot.cancel(id)) {
      // It still counts as the worker's until the worker has skipped it.
      member.dropping++;
      if (how === "late") {
        this.#counters.queueTimeouts++;
        return "timeout";
      }
      return "moved";
    }
    if (how === "steal") {
      // Too late: it started. Its turn is taken; keep the order of the rest.
      member.turns.splice(Math.min(index, member.turns.length), 0, () => {});
      return "start";
    }
    await lease.turn;
    return "start";
  }

  /**
   * Runs one request on a free slot. Resolves with the response head and
   * the rest of the exchange once Python has started answering; fails with
   * a GatewayError (already logged) when no worker could answer.
   */
  async handle(
    spec: MountSpec,
    cgi: string,
    body: () => Promise<RequestBody>,
  ): Promise<Exchange> {
    if (this.#stopping) {
      throw new GatewayError(503, "the group is shutting down", 1);
    }
    // A small body is read before a worker is taken: a slow client then
    // holds no worker, and its upload time does not count against
    // requestTimeout. A large one streams, as the worker reads it.
    const arrived = performance.now();
    let requestBody: RequestBody;
    try {
      requestBody = await body();
    } catch {
      throw new GatewayError(400, "the request body could not be read");
    }
    for (let attempt = 0;; attempt++) {
      let lease: Lease;
      try {
        lease = await this.#acquire(requestBody.kind !== "stream");
      } catch (error) {
        log("warn", `request rejected: ${(error as Error).message}`, {
          group: this.config.name,
          mount: spec.prefix,
        });
        const retryAfter = this.#restartTimer !== undefined
          ? Math.max(1, Math.ceil((this.#restartAt - Date.now()) / 1000))
          : OVERLOAD_RETRY_AFTER;
        throw new GatewayError(503, (error as Error).message, retryAfter);
      }
      const exchange = await this.#timed(
        arrived,
        () => this.#run(lease, spec, cgi, requestBody),
      );
      if (exchange) return exchange;
      if (attempt + 1 >= MAX_RETRIES) {
        throw new GatewayError(502, "the workers went away");
      }
    }
  }

  /**
   * Runs `run` and records in the latency histogram how long the request
   * took from `arrived` to the end of its response (or its failure).
   */
  async #timed(
    arrived: number,
    run: () => Promise<Exchange | undefined>,
  ): Promise<Exchange | undefined> {
    const record = () =>
      this.#latency.observe((performance.now() - arrived) / 1000);
    let exchange: Exchange | undefined;
    try {
      exchange = await run();
    } catch (error) {
      record();
      throw error;
    }
    if (!exchange) return undefined;
    const done = exchange.done;
    let recorded = false;
    exchange.done = () => {
      if (!recorded) {
        recorded = true;
        record();
      }
      done();
    };
    return exchange;
  }

  /**
   * Runs a request on the worker of `lease`. Resolves undefined when the
   * request never started because the worker went: the caller tries again.
   */
  async #run(
    lease: Lease,
    spec: MountSpec,
    cgi: string,
    requestBody: RequestBody,
  ): Promise<Exchange | undefined> {
    const { member } = lease;
    const slot = member.slot;
    const request = slot.start(
      spec,
      cgi,
      requestBody,
      lease.turn !== undefined,
    );
    request.head.catch(() => {});
    const turn = await this.#awaitTurn(lease, slot, request.id);
    if (turn === "moved") return undefined;
    if (turn === "timeout") {
      log("warn", "request rejected: queue timeout", {
        group: this.config.name,
        mount: spec.prefix,
      });
      throw new GatewayError(503, "queue timeout", OVERLOAD_RETRY_AFTER);
    }
    this.#counters.requests++;
    let finished = false;
    let timedOut = false;
    /** Answered 504 before its head: the worker still has to end it. */
    let abandoned = false;
    const done = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (!timedOut) this.#release(member);
    };
    const limit = this.config.requestTimeout * 1000;
    let onTimeout: (() => void) | undefined;
    const timer = limit > 0 && this.config.threads > 1
      ? setTimeout(() => {
        this.#counters.timeouts++;
        log(
          "error",
          `request exceeded requestTimeout (${this.config.requestTimeout} s); it is ended where it waits, the worker's other requests go on`,
          { group: this.config.name, mount: spec.prefix },
        );
        slot.abort(request.id);
        abandoned = onTimeout !== undefined;
        onTimeout?.();
        // A request that does not stop (busy on the CPU) costs its worker.
        const grace = setTimeout(() => {
          if (finished || !this.#members.has(member)) return;
          timedOut = true;
          log(
            "error",
            "a timed-out request did not stop; its worker is replaced",
            { group: this.config.name, mount: spec.prefix },
          );
          this.#replaceInterrupted(member);
        }, ABORT_GRACE_MS);
        Deno.unrefTimer(grace);
      }, limit)
      : limit > 0
      ? setTimeout(() => {
        timedOut = true;
        this.#counters.timeouts++;
        log(
          "error",
          `request exceeded requestTimeout (${this.config.requestTimeout} s); the worker is replaced`,
          { group: this.config.name, mount: spec.prefix },
        );
        this.#replaceInterrupted(member);
        onTimeout?.();
      }, limit)
      : undefined;
    try {
      const head = await Promise.race([
        request.head,
        new Promise<never>((_, reject) => {
          onTimeout = () => reject(new SlotFailure(504, "request timeout"));
        }),
      ]);
      onTimeout = undefined;
      return {
        head,
        next: () => slot.next(request.id),
        cancel: () => slot.close(request.id),
        done,
      };
    } catch (error) {
      if (abandoned) {
        // Its thread is released only once Python has let go of it.
        request.head.then((head) => {
          if (!head.done) slot.close(request.id);
        }, () => {}).finally(done);
        throw new GatewayError(504, "request timeout");
      }
      done();
      if (error instanceof SlotFailure) {
        if (error.status === 504 && !timedOut) {
          // Embedded mode: the watchdog interrupted Python on this thread.
          this.#counters.timeouts++;
          log(
            "error",
            `request exceeded requestTimeout (${this.config.requestTimeout} s); Python was interrupted`,
            { group: this.config.name, mount: spec.prefix },
          );
        }
        if (error.retry) {
          this.#counters.requests--;
          return undefined;
        }
        throw new GatewayError(error.status, error.message);
      }
      log("error", `gateway error: ${(error as Error)?.stack ?? error}`, {
        group: this.config.name,
        mount: spec.prefix,
      });
      throw new GatewayError(500, "gateway error");
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
        this.#forget(member);
        member.slot.terminate();
      } else {
        member.state = "retiring";
      }
    }
    this.#counters.restarts += old.length;
    // A restart asked for by hand does not wait out a crash back-off.
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    this.#fill();
    await Promise.all(
      [...this.#members].filter((m) => m.generation === this.#generation)
        .map((m) => m.slot.ready.catch(() => {})),
    );
  }

  /** Waits until the workers have started (or failed to). */
  async ready(): Promise<void> {
    this.#fill();
    await Promise.all(
      [...this.#members].map((m) => m.slot.ready.catch(() => {})),
    );
  }

  /**
   * Waits until the workers have started, then rejects if a mount's script
   * failed to load in every one of them (its traceback is in the log). The
   * group keeps serving and tries the script again on later requests.
   */
  async mountReady(spec: MountSpec): Promise<void> {
    await this.ready();
    const members = [...this.#members].filter((m) => m.state !== "starting");
    if (members.length > 0 && members.every((m) => m.failing.has(spec.id))) {
      throw new Error(
        `WSGI script ${spec.scriptPath} failed to load (its traceback is in the log); requests for it answer 500 and load it again`,
      );
    }
  }

  /**
   * Stops taking requests, lets those in flight run up to gracefulTimeout,
   * then terminates every worker.
   */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#stealTimer);
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    this.#queue.rejectAll(new SlotFailure(503, "shutting down"));
    const deadline = Date.now() + this.config.gracefulTimeout * 1000;
    while (
      [...this.#members].some((m) =>
        m.state === "busy" || m.state === "retiring"
      ) && Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const member of this.#members) {
      this.#forget(member);
      member.slot.terminate();
    }
  }

  /** Counts for a status page or a Prometheus export. */
  metrics(): GroupMetrics {
    const workers = { idle: 0, busy: 0, starting: 0 };
    let rss: number | undefined;
    for (const member of this.#members) {
      if (member.state === "idle") workers.idle++;
      else if (member.state === "starting") workers.starting++;
      else workers.busy++;
      const bytes = member.slot.rss?.();
      if (bytes !== undefined) rss = (rss ?? 0) + bytes;
    }
    return {
      name: this.config.name,
      mode: this.embedded
        ? "embedded"
        : this.config.isolation === "process"
        ? "processes"
        : "workers",
      processes: this.config.processes,
      workers,
      queueLength: this.#queue.length + this.#pipelined(),
      ...this.#counters,
      ...(rss === undefined ? {} : { rss }),
      latency: this.#latency.snapshot(),
    };
  }
}
