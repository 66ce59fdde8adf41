import assert from "node:assert/strict";
import type { GroupMetrics } from "./metrics.ts";
import { createCounters, LatencyHistogram } from "./metrics.ts";
import { chooseFormat, prometheusText, statusPage } from "./server_status.ts";

function metrics(name: string): GroupMetrics {
  const latency = new LatencyHistogram();
  for (const seconds of [0.004, 0.02, 0.02, 0.7, 120]) latency.observe(seconds);
  return {
    name,
    mode: "workers",
    processes: 2,
    workers: { idle: 1, busy: 1, starting: 0 },
    spares: 0,
    queueLength: 3,
    ...createCounters(),
    requests: 5,
    starts: 2,
    timeouts: 1,
    latency: latency.snapshot(),
  };
}

Deno.test("the latency histogram counts cumulatively", () => {
  const { count, sum, buckets } = metrics("a").latency;
  assert.equal(count, 5);
  assert.ok(Math.abs(sum - 120.744) < 1e-9);
  const at = (le: number) => buckets.find((bucket) => bucket.le === le)!.count;
  assert.equal(at(0.005), 1);
  assert.equal(at(0.025), 3);
  assert.equal(at(1), 4);
  // 120 s is above every bound: only in count (and +Inf).
  assert.equal(at(60), 4);
});

Deno.test("the format: ?format= first, then Accept", () => {
  const ask = (query: string, accept?: string) =>
    chooseFormat(
      new Request(`http://x/server-status${query}`, {
        headers: accept ? { accept } : {},
      }),
    );
  assert.equal(ask("?format=json", "text/html"), "json");
  assert.equal(ask("?format=prometheus"), "prometheus");
  assert.equal(ask("?format=xml"), undefined);
  assert.equal(ask("", "application/json"), "json");
  assert.equal(
    ask("", "text/plain;version=0.0.4;q=0.3,*/*;q=0.1"),
    "prometheus",
  );
  assert.equal(
    ask("", "application/openmetrics-text; version=1.0.0"),
    "prometheus",
  );
  assert.equal(ask("", "text/html,application/xhtml+xml"), "html");
  assert.equal(ask(""), "html");
});

Deno.test("Prometheus text: one family each, histogram with +Inf", () => {
  const text = prometheusText([metrics("shop"), metrics("blog")]);
  assert.match(text, /^# TYPE wsgi_workers gauge$/m);
  assert.match(text, /^wsgi_workers\{group="shop",state="busy"\} 1$/m);
  assert.match(text, /^wsgi_queue_length\{group="blog"\} 3$/m);
  assert.match(text, /^wsgi_requests_total\{group="shop"\} 5$/m);
  assert.match(text, /^wsgi_request_timeouts_total\{group="shop"\} 1$/m);
  assert.match(
    text,
    /^wsgi_request_duration_seconds_bucket\{group="shop",le="0.025"\} 3$/m,
  );
  assert.match(
    text,
    /^wsgi_request_duration_seconds_bucket\{group="shop",le="\+Inf"\} 5$/m,
  );
  assert.match(
    text,
    /^wsgi_request_duration_seconds_count\{group="blog"\} 5$/m,
  );
  assert.equal(text.match(/^# TYPE wsgi_workers /gm)!.length, 1);
  for (const line of text.trimEnd().split("\n")) {
    assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+\{[^}]*\} [\d.e+-]+)$/, line);
  }
});

Deno.test("the HTML page escapes what it shows", () => {
  const page = statusPage([metrics("<b>shop</b>")]);
  assert.ok(page.includes("&#60;b&#62;shop&#60;/b&#62;"));
  assert.ok(!page.includes("<b>shop"));
  assert.match(page, /<td>1 \/ 1 \/ 0<\/td>/);
});
