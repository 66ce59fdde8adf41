/**
 * The status endpoint (mod_wsgi-express's `--server-status`): each group's
 * workers, queue, request counts and latency, as JSON for machines, a
 * small HTML page for people, or Prometheus text, to listed addresses only.
 *
 * @module
 */

import { listGroups } from "./groups.ts";
import type { GroupMetrics } from "./metrics.ts";
import { registerPath } from "./dispatch.ts";
import { addressMatcher } from "./proxy_headers.ts";
import type { RouterLike } from "./router.ts";
import type { ConnectionInfo } from "./environ.ts";

/**
 * Options of `mountServerStatus()`.
 *
 * @example Reachable from the monitoring network too
 * ```ts
 * import type { ServerStatusOptions } from "../mod.ts";
 * const options: ServerStatusOptions = { allow: ["127.0.0.1", "::1", "10.1.0.0/16"] };
 * ```
 */
export interface ServerStatusOptions {
  /**
   * Client addresses or CIDR ranges that may read it; others get 403.
   * Default: loopback only (`127.0.0.0/8`, `::1`), as mod_wsgi-express.
   */
  allow?: string[];
}

/**
 * The formats a client may ask for.
 *
 * @example Ask for Prometheus text
 * ```ts
 * import type { StatusFormat } from "../mod.ts";
 * const format: StatusFormat = "prometheus";
 * const url = `http://127.0.0.1:8000/server-status?format=${format}`;
 * ```
 */
export type StatusFormat = "json" | "html" | "prometheus";

const LOOPBACK = ["127.0.0.0/8", "::1"];
const started = new Date();

/**
 * Which format a request asks for: `?format=json|html|prometheus` first,
 * then the Accept header (`application/json`; `text/plain` or
 * `application/openmetrics-text`, as Prometheus sends; else HTML).
 */
export function chooseFormat(request: Request): StatusFormat | undefined {
  const query = new URL(request.url).searchParams.get("format");
  if (query !== null) {
    return query === "json" || query === "html" || query === "prometheus"
      ? query
      : undefined;
  }
  const accept = request.headers.get("accept") ?? "";
  if (/application\/json/i.test(accept)) return "json";
  if (/text\/html/i.test(accept)) return "html";
  if (/text\/plain|application\/openmetrics-text/i.test(accept)) {
    return "prometheus";
  }
  return "html";
}

function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(
    /\n/g,
    "\\n",
  );
}

/** Prometheus's text exposition format (version 0.0.4). */
export function prometheusText(groups: GroupMetrics[]): string {
  const lines: string[] = [];
  const family = (
    name: string,
    type: "gauge" | "counter" | "histogram",
    help: string,
    samples: (group: GroupMetrics, g: string) => string[],
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const group of groups) {
      lines.push(...samples(group, `group="${label(group.name)}"`));
    }
  };
  family(
    "wsgi_workers",
    "gauge",
    "Live workers by state.",
    (m, g) =>
      (["idle", "busy", "starting"] as const).map((state) =>
        `wsgi_workers{${g},state="${state}"} ${m.workers[state]}`
      ),
  );
  family(
    "wsgi_processes",
    "gauge",
    "Configured workers (0: embedded).",
    (m, g) => [`wsgi_processes{${g}} ${m.processes}`],
  );
  family(
    "wsgi_queue_length",
    "gauge",
    "Requests waiting for a worker.",
    (m, g) => [`wsgi_queue_length{${g}} ${m.queueLength}`],
  );
  const counters: [keyof GroupMetrics, string, string][] = [
    ["requests", "wsgi_requests_total", "Requests handed to a worker."],
    ["starts", "wsgi_worker_starts_total", "Workers started."],
    ["restarts", "wsgi_worker_restarts_total", "Workers replaced."],
    ["crashes", "wsgi_worker_crashes_total", "Workers that died."],
    ["timeouts", "wsgi_request_timeouts_total", "Requests answered 504."],
    [
      "queueTimeouts",
      "wsgi_queue_timeouts_total",
      "Requests answered 503 after queueTimeout.",
    ],
    ["rejected", "wsgi_rejected_total", "Requests answered 503 at once."],
    [
      "spareTakeovers",
      "wsgi_spare_takeovers_total",
      "Spare workers that took over from one that stopped.",
    ],
    [
      "memoryRecycles",
      "wsgi_memory_recycles_total",
      "Workers recycled past memoryLimit or after a MemoryError.",
    ],
  ];
  for (const [key, name, help] of counters) {
    family(name, "counter", help, (m, g) => [`${name}{${g}} ${m[key]}`]);
  }
  family(
    "wsgi_request_duration_seconds",
    "histogram",
    "From arrival at the group to the last byte of the response.",
    (m, g) => [
      ...m.latency.buckets.map((bucket) =>
        `wsgi_request_duration_seconds_bucket{${g},le="${bucket.le}"} ${bucket.count}`
      ),
      `wsgi_request_duration_seconds_bucket{${g},le="+Inf"} ${m.latency.count}`,
      `wsgi_request_duration_seconds_sum{${g}} ${m.latency.sum}`,
      `wsgi_request_duration_seconds_count{${g}} ${m.latency.count}`,
    ],
  );
  const measured = groups.filter((m) => m.rss !== undefined);
  if (measured.length > 0) {
    lines.push(
      "# HELP wsgi_worker_rss_bytes Resident memory of worker processes.",
      "# TYPE wsgi_worker_rss_bytes gauge",
      ...measured.map((m) =>
        `wsgi_worker_rss_bytes{group="${label(m.name)}"} ${m.rss}`
      ),
    );
  }
  return lines.join("\n") + "\n";
}

function escapeHtml(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Mean latency in milliseconds, or "-" before the first request. */
function meanMs(m: GroupMetrics): string {
  return m.latency.count === 0
    ? "-"
    : (m.latency.sum / m.latency.count * 1000).toFixed(1);
}

/** A small page for people: one row per group. */
export function statusPage(groups: GroupMetrics[], now = new Date()): string {
  const columns = [
    "group",
    "mode",
    "workers idle / busy / starting",
    "queue",
    "requests",
    "mean ms",
    "504",
    "503",
    "restarts",
    "crashes",
  ];
  const rows = groups.map((m) =>
    [
      m.name,
      m.mode,
      `${m.workers.idle} / ${m.workers.busy} / ${m.workers.starting}`,
      m.queueLength,
      m.requests,
      meanMs(m),
      m.timeouts,
      m.queueTimeouts + m.rejected,
      m.restarts,
      m.crashes,
    ].map((cell) => `<td>${escapeHtml(cell)}</td>`).join("")
  );
  const uptime = Math.round((now.getTime() - started.getTime()) / 1000);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Server status</title>
<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}td:first-child{text-align:left}</style>
</head><body>
<h1>Server status</h1>
<p>Started ${
    escapeHtml(started.toISOString())
  }, up ${uptime} s. Also as <a href="?format=json">JSON</a> and <a href="?format=prometheus">Prometheus</a> text.</p>
<table><tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr>
${rows.map((row) => `<tr>${row}</tr>`).join("\n")}
</table></body></html>
`;
}

/**
 * Serves the status of every group at `path` (mod_wsgi-express's
 * `--server-status`, Apache's mod_status): JSON with `?format=json` or
 * `Accept: application/json`; Prometheus text with `?format=prometheus`
 * or `Accept: text/plain` (what Prometheus sends); an HTML page otherwise.
 * Clients outside `allow` (default: loopback only) get 403. It wins over a
 * WSGI app mounted at "/", whatever the order of the calls.
 *
 * @example Status as JSON on loopback
 * ```ts
 * import { createRouter, mountServerStatus } from "../mod.ts";
 * const router = createRouter();
 * mountServerStatus(router);
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, router.fetch);
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/server-status?format=json`);
 * const status = await response.json();
 * await server.shutdown();
 * if (!Array.isArray(status.groups)) throw new Error("no groups");
 * ```
 */
export function mountServerStatus(
  router: RouterLike,
  path = "/server-status",
  options: ServerStatusOptions = {},
): void {
  const where = `mountServerStatus(${JSON.stringify(path)})`;
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where}: options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (key !== "allow") {
      throw new TypeError(
        `${where}: unknown option "${key}"; the known option is allow`,
      );
    }
  }
  const allowed = addressMatcher(where, "allow", options.allow ?? LOOPBACK);
  registerPath(router, path, (request, info?: ConnectionInfo) => {
    const peer = info?.remoteAddr?.hostname;
    if (peer === undefined || !allowed(peer)) {
      return text(403, "403 Forbidden\n", "text/plain; charset=utf-8");
    }
    const format = chooseFormat(request);
    const groups = listGroups().map((group) => group.metrics());
    if (format === "json") {
      return Response.json(
        {
          started: started.toISOString(),
          uptimeSeconds: (Date.now() - started.getTime()) / 1000,
          groups,
        },
        { headers: { "cache-control": "no-store" } },
      );
    }
    if (format === "prometheus") {
      return text(
        200,
        prometheusText(groups),
        "text/plain; version=0.0.4; charset=utf-8",
      );
    }
    if (format === "html") {
      return text(200, statusPage(groups), "text/html; charset=utf-8");
    }
    return text(
      400,
      "400 Bad Request: format must be json, html or prometheus\n",
      "text/plain; charset=utf-8",
    );
  });
}

function text(status: number, body: string, type: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": type, "cache-control": "no-store" },
  });
}
