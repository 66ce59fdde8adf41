import assert from "node:assert/strict";
import { apacheTime, escapeField, formatAccessLine } from "./access_log.ts";

const record = {
  remote: "203.0.113.7",
  time: new Date(2026, 11, 3, 7, 5, 9),
  method: "GET",
  target: "/app/?q=%22x%22",
  protocol: "HTTP/2",
  status: 200,
  bytes: 5000,
  referer: null,
  userAgent: 'curl/8 "evil"\nfake line',
  duration: 12.3456,
};

Deno.test("apacheTime is Apache's %t in local time with its offset", () => {
  const time = apacheTime(record.time);
  assert.match(time, /^\[03\/Dec\/2026:07:05:09 [+-]\d{4}\]$/);
  const offset = -record.time.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const hours = String(Math.floor(Math.abs(offset) / 60)).padStart(2, "0");
  const minutes = String(Math.abs(offset) % 60).padStart(2, "0");
  assert.ok(time.endsWith(` ${sign}${hours}${minutes}]`), time);
});

Deno.test("quoted fields are escaped as Apache does: no forged lines", () => {
  assert.equal(escapeField('a"b\\c'), 'a\\"b\\\\c');
  assert.equal(escapeField("x\ny\tz"), "x\\x0ay\\x09z");
  assert.equal(escapeField("é"), "\\xc3\\xa9");
});

Deno.test("a combined line", () => {
  const line = formatAccessLine(record, "combined");
  assert.equal(
    line,
    `203.0.113.7 - - ${
      apacheTime(record.time)
    } "GET /app/?q=%22x%22 HTTP/2" 200 5000 "-" "curl/8 \\"evil\\"\\x0afake line"`,
  );
  assert.ok(!line.includes("\n"));
  assert.match(
    formatAccessLine({ ...record, bytes: 0 }, "combined"),
    / 200 - /,
  );
});

Deno.test("a JSON line", () => {
  const parsed = JSON.parse(formatAccessLine(record, "json"));
  const { time, duration: _, ...fields } = record;
  assert.deepEqual(parsed, {
    time: time.toISOString(),
    ...fields,
    durationMs: 12.346,
  });
});
