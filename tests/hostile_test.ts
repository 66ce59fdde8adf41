/**
 * The hostile-input and misbehaving-app suite (issue 13): for each way a
 * client can send a broken request and each way an application can break
 * PEP 3333 or its worker, the status the client gets, what the log says
 * (the traceback, where Python failed), and that a healthy route of the
 * same group kept answering meanwhile. Requests go over real sockets on
 * loopback (Deno.connect), so that nothing normalizes them on the way.
 * Slow and stalled bodies are in request_buffering_test.ts, repeated
 * Content-Length in request_headers_test.ts, limitRequestBody in
 * limits_test.ts; the PEP 3333 details of each misbehaviour in
 * gateway_test.ts.
 */

import { descendants } from "./process_tree.ts";
import assert from "node:assert/strict";
import { createRouter, defineGroup, mountWsgi, serve } from "../mod.ts";
import { appPath, collectLogs, responseComplete, waitFor } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("hostile_app.wsgi");
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

const logs = collectLogs();
// Two Web Workers: one may be busy with (or lost to) the bad request while
// the other serves the healthy route. Threads, so that the only worker
// processes are the SIGKILL test's.
const group = defineGroup("hostile", {
  processes: 2,
  isolation: "thread",
  requestTimeout: 20,
});
// A worker process, the one kind a signal can kill on its own.
const processGroup = defineGroup("hostile-process", {
  processes: 1,
  isolation: "process",
  requestTimeout: 20,
});
const router = createRouter();
mountWsgi(router, "/h", app, { group });
mountWsgi(router, "/p", app, { group: processGroup });
// The gateway's own serve(): its parser is what the hostile input meets.
const ready = Promise.all([group.ready(), processGroup.ready()]).then(() => {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    router.fetch,
  );
  const port = server.addr.port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    close: () => server.stop(1),
  };
});

/**
 * Sends bytes exactly as given and reads until the response is whole, the
 * server closes the connection, or 10 s pass. Returns the status line, or
 * "" when the server closed without answering.
 */
async function exchange(
  port: number,
  request: string,
): Promise<{ status: string; text: string }> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => connection.close(), 10_000);
  let text = "";
  try {
    await connection.write(encoder.encode(request));
    const buffer = new Uint8Array(65536);
    while (true) {
      const n = await connection.read(buffer);
      if (n === null) break;
      text += latin1.decode(buffer.subarray(0, n));
      if (responseComplete(text)) break;
    }
  } catch {
    // Reset or closed by the timer: what came is what there is.
  } finally {
    clearTimeout(timer);
    try {
      connection.close();
    } catch {
      // Already closed.
    }
  }
  return { status: text.split("\r\n")[0], text };
}

/**
 * Runs `fn` while a client asks the healthy route every 50 ms; fails if one
 * of those requests failed or took longer than 3 s.
 */
async function whileHealthy<T>(
  base: string,
  fn: () => Promise<T>,
): Promise<T> {
  let running = true;
  const times: number[] = [];
  const client = (async () => {
    while (running) {
      const started = performance.now();
      const response = await fetch(`${base}/h/hello`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "hello");
      times.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    return await fn();
  } finally {
    running = false;
    await client;
    assert.ok(times.length > 0, "no healthy request ran meanwhile");
    assert.ok(
      Math.max(...times) < 3000,
      `a healthy request took ${Math.round(Math.max(...times))} ms`,
    );
  }
}

/** The log entries written since `from`, as text. */
function logSince(from: number): string {
  return logs.entries.slice(from).map((e) => e.message).join("\n");
}

const misbehaviours: {
  path: string;
  status: number;
  log?: RegExp;
  body?: string;
}[] = [
  {
    path: "/twice",
    status: 500,
    log:
      /Traceback[\s\S]*start_response\(\) was called a second time without exc_info/,
  },
  {
    path: "/bytes-header-name",
    status: 500,
    log: /Traceback[\s\S]*name and value must both be str/,
  },
  {
    path: "/int-header-value",
    status: 500,
    log: /Traceback[\s\S]*name and value must both be str/,
  },
  {
    path: "/hop-by-hop",
    status: 500,
    log: /Traceback[\s\S]*'Connection' is hop-by-hop, which PEP 3333 forbids/,
  },
  // As mod_wsgi: output beyond the declared length is not sent.
  { path: "/longer", status: 200, body: "01234" },
  {
    path: "/sys-exit",
    status: 500,
    log: /Traceback[\s\S]*SystemExit: 3/,
  },
  {
    path: "/raise-before",
    status: 500,
    log: /Traceback[\s\S]*RuntimeError: failed before start_response/,
  },
  {
    path: "/raise-after",
    status: 500,
    log: /Traceback[\s\S]*RuntimeError: failed after start_response/,
  },
];

for (const { path, status, log, body } of misbehaviours) {
  Deno.test({
    name: `misbehaving app: ${path} answers ${status}${
      log ? ", traceback in the log" : ""
    }, healthy requests served meanwhile`,
    ...options,
    async fn() {
      const server = await ready;
      const from = logs.entries.length;
      const answer = await whileHealthy(server.base, () =>
        exchange(
          server.port,
          `GET /h${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        ));
      assert.match(answer.status, new RegExp(`^HTTP/1\\.1 ${status} `));
      if (body !== undefined) {
        assert.equal(
          answer.text.slice(answer.text.indexOf("\r\n\r\n") + 4),
          body,
        );
      }
      if (log) assert.match(logSince(from), log);
    },
  });
}

Deno.test({
  name:
    "misbehaving app: a generator that raises midway cuts the response short; traceback in the log",
  ...options,
  async fn() {
    const server = await ready;
    const from = logs.entries.length;
    const answer = await whileHealthy(server.base, () =>
      exchange(
        server.port,
        "GET /h/raise-midway HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      ));
    assert.match(answer.status, /^HTTP\/1\.1 200 /);
    assert.ok(answer.text.includes("first part\n"));
    // A chunked body cut short has no last (empty) chunk.
    assert.ok(!answer.text.endsWith("0\r\n\r\n"), "the body looked complete");
    assert.match(
      logSince(from),
      /Traceback[\s\S]*RuntimeError: the generator failed midway/,
    );
  },
});

Deno.test({
  name:
    "misbehaving app: a body shorter than its Content-Length reaches the client short, and the connection is closed",
  ...options,
  async fn() {
    const server = await ready;
    const answer = await whileHealthy(server.base, () =>
      exchange(
        server.port,
        "GET /h/shorter HTTP/1.1\r\nHost: x\r\n\r\n",
      ));
    assert.match(answer.status, /^HTTP\/1\.1 200 /);
    assert.match(answer.text, /content-length: 100\r\n/i);
    assert.equal(
      answer.text.slice(answer.text.indexOf("\r\n\r\n") + 4),
      "short",
    );
  },
});

Deno.test({
  name:
    "misbehaving app: os._exit(1) costs its worker only: 502, logged, replaced",
  ...options,
  async fn() {
    const server = await ready;
    const from = logs.entries.length;
    const before = group.metrics();
    const answer = await whileHealthy(server.base, () =>
      exchange(
        server.port,
        "GET /h/os-exit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      ));
    assert.match(answer.status, /^HTTP\/1\.1 502 /);
    assert.match(
      logSince(from),
      /worker stopped: the Python interpreter suffered a fatal error: Program terminated with exit\(1\)/,
    );
    await waitFor(
      () => group.metrics().crashes > before.crashes,
      10_000,
      "the crash counted",
    );
  },
});

/** Process ids of the worker processes this test process started. */
function workerProcesses(): number[] {
  return descendants().filter((pid) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`)
        .includes("process_main");
    } catch {
      return false; // gone meanwhile
    }
  });
}

Deno.test({
  name:
    "a worker process killed with SIGKILL mid-request: 502 for that request, logged, replaced, others served meanwhile",
  ...options,
  async fn() {
    const server = await ready;
    const from = logs.entries.length;
    const [pid] = workerProcesses();
    assert.ok(pid, "no worker process found");
    const answer = await whileHealthy(server.base, async () => {
      const pending = exchange(
        server.port,
        "GET /p/sleep?10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      await waitFor(
        () => processGroup.metrics().workers.busy > 0,
        5000,
        "the request running",
      );
      Deno.kill(pid, "SIGKILL");
      return await pending;
    });
    assert.match(answer.status, /^HTTP\/1\.1 502 /);
    assert.match(
      logSince(from),
      /worker stopped: the worker process was killed by SIGKILL; restarting it/,
    );
    await waitFor(
      () => workerProcesses().some((other) => other !== pid),
      30_000,
      "a replacement worker",
    );
    await processGroup.ready();
    const after = await fetch(`${server.base}/p/hello`);
    assert.equal(await after.text(), "hello");
  },
});

/**
 * Hostile requests, with Apache 2.4's answer to each: the same answer from
 * serve()'s strict parser (src/strict_http.ts) or from the dispatcher.
 */
const hostile: { what: string; request: string; status: string }[] = [
  {
    what: "a chunk size that is not hexadecimal (Apache: 400)",
    request:
      "POST /h/sha HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    status: "HTTP/1.1 400 Bad Request",
  },
  {
    what: "bare-LF line ends (Apache: 400)",
    request: "GET /h/hello HTTP/1.1\nHost: x\nConnection: close\n\n",
    status: "HTTP/1.1 400 Bad Request",
  },
  {
    what: "HTTP/1.1 without Host (Apache: 400)",
    request: "GET /h/hello HTTP/1.1\r\nConnection: close\r\n\r\n",
    status: "HTTP/1.1 400 Bad Request",
  },
  {
    what: "HTTP/1.0 without Host (Apache: 200)",
    request: "GET /h/hello HTTP/1.0\r\n\r\n",
    status: "HTTP/1.1 200 OK",
  },
  {
    what: "malformed percent-encoding in the path (Apache: 400)",
    request: "GET /h/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    status: "HTTP/1.1 400 Bad Request",
  },
  {
    what: "a request line over 8190 bytes (Apache: 414)",
    request: `GET /h/${
      "a".repeat(8200)
    } HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    status: "HTTP/1.1 414 URI Too Long",
  },
  {
    what: "two identical Content-Length lines (Apache: 400)",
    request:
      "POST /h/sha HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    status: "HTTP/1.1 400 Bad Request",
  },
  {
    what: "two differing Content-Length lines (Apache: 400)",
    request:
      "POST /h/sha HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd",
    status: "HTTP/1.1 400 Bad Request",
  },
];

for (const { what, request, status } of hostile) {
  Deno.test({
    name: `hostile input: ${what} gets ${
      status.slice(9)
    }; a refused one never reaches the app`,
    ...options,
    async fn() {
      const server = await ready;
      const from = logs.entries.length;
      const answer = await whileHealthy(
        server.base,
        () => exchange(server.port, request),
      );
      assert.equal(answer.status, status);
      assert.doesNotMatch(logSince(from), /app called/);
    },
  });
}

Deno.test({
  name: "hostile: stop the server and the groups",
  ...options,
  async fn() {
    await (await ready).close();
    await group.shutdown();
    await processGroup.shutdown();
    logs.stop();
  },
});
