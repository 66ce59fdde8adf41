import assert from "node:assert/strict";
import { parseWrkOutput, parseWrkUnit } from "./measure.ts";

// What wrk 4.1.0 (Debian) prints with --latency, errors included.
const REPORT = `Running 3s test @ http://127.0.0.1:41234/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.71ms    6.02ms  98.40ms   80.12%
    Req/Sec     2.53k   312.45     3.10k    71.67%
  Latency Distribution
     50%   11.58ms
     75%   14.90ms
     90%   19.77ms
     99%  735.00us
  15126 requests in 3.01s, 1.83MB read
  Socket errors: connect 0, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 7
Requests/sec:   5025.21
Transfer/sec:    622.09KB
`;

Deno.test("parseWrkOutput reads every figure, errors included", () => {
  const result = parseWrkOutput(REPORT);
  assert.equal(result.requests, 15126);
  assert.equal(result.requestsPerSecond, 5025.21);
  assert.equal(result.transferBytesPerSecond, 622.09 * 1024);
  assert.deepEqual(result.latencyMs, {
    mean: 12.71,
    p50: 11.58,
    p75: 14.9,
    p90: 19.77,
    p99: 0.735,
    max: 98.4,
  });
  assert.equal(result.non2xx, 7);
  assert.deepEqual(result.socketErrors, {
    connect: 0,
    read: 2,
    write: 0,
    timeout: 5,
  });
});

Deno.test("parseWrkOutput: a clean run has no errors", () => {
  const clean = REPORT.replace(/ {2}Socket errors.*\n {2}Non-2xx.*\n/, "");
  const result = parseWrkOutput(clean);
  assert.equal(result.non2xx, 0);
  assert.equal(result.socketErrors.timeout, 0);
});

Deno.test("parseWrkOutput names a missing figure", () => {
  assert.throws(
    () => parseWrkOutput(REPORT.replace(/Requests\/sec.*\n/, "")),
    /no req\/s/,
  );
});

Deno.test("parseWrkUnit: time in ms, sizes in bytes", () => {
  assert.equal(parseWrkUnit("2.00s"), 2000);
  assert.equal(parseWrkUnit("1.5m"), 90_000);
  assert.equal(parseWrkUnit("3MB"), 3 * 1024 * 1024);
  assert.throws(() => parseWrkUnit("3 parsecs"), /not a wrk figure/);
});
