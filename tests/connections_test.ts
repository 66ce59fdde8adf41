/**
 * Connections: the timeouts that close idle, half-sent and stalled
 * connections, running out of file descriptors without dying, and a stop
 * that closes the listener first. Over real TCP on loopback, against
 * `start-server` run as a user runs it and against `serve()` in-process.
 *
 * @module
 */

import assert from "node:assert/strict";
import { appPath, startServerCommand, waitFor } from "./helpers.ts";
import { createRouter, mountHealthChecks, serve } from "../mod.ts";

const APP = appPath("connections_app.wsgi");
const encoder = new TextEncoder();

/** Seconds from `from` until the server closes `conn` (EOF or reset), or undefined after `limitMs`. */
async function closedAfter(
  conn: Deno.Conn,
  from: number,
  limitMs: number,
): Promise<number | undefined> {
  let gaveUp = false;
  const timer = setTimeout(() => {
    gaveUp = true;
    conn.close();
  }, limitMs);
  const buffer = new Uint8Array(65536);
  try {
    while (await conn.read(buffer) !== null) {
      // Whatever was still in flight.
    }
  } catch {
    // A reset is a close too.
  }
  clearTimeout(timer);
  if (gaveUp) return undefined;
  try {
    conn.close();
  } catch {
    // already closed
  }
  return (performance.now() - from) / 1000;
}

/** Reads until `text` has arrived. */
async function readUntil(conn: Deno.Conn, text: string): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(65536);
  let got = "";
  while (!got.includes(text)) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`closed before ${text}: ${got}`);
    got += decoder.decode(buffer.subarray(0, n));
  }
  return got;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

Deno.test("start-server closes idle keep-alive connections after --keep-alive-timeout, half-sent heads after --header-timeout, and responses the client stopped reading after --socket-timeout", async () => {
  const server = await startServerCommand([
    APP,
    ...["--host", "127.0.0.1", "--port", "0"],
    ...["--header-timeout", "3", "--keep-alive-timeout", "1"],
    ...["--socket-timeout", "2", "--log-level", "debug"],
  ]);
  const port = portOf(server.urls[0]);
  try {
    // Keep-alive: a whole exchange, then silence.
    const kept = await Deno.connect({ hostname: "127.0.0.1", port });
    await kept.write(
      encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    await readUntil(kept, "hello from");
    const answered = performance.now();
    // A head that never ends, and a connection that never speaks.
    const half = await Deno.connect({ hostname: "127.0.0.1", port });
    const halfFrom = performance.now();
    await half.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n"));
    const silent = await Deno.connect({ hostname: "127.0.0.1", port });
    const silentFrom = performance.now();
    // A download the client never reads: 64 MiB, far beyond the buffers.
    const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
    await stalled.write(
      encoder.encode("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"),
    );

    const [keptAfter, halfAfter, silentAfter] = await Promise.all([
      closedAfter(kept, answered, 10_000),
      closedAfter(half, halfFrom, 10_000),
      closedAfter(silent, silentFrom, 10_000),
    ]);
    assert.ok(
      keptAfter !== undefined && keptAfter >= 0.9 && keptAfter < 2.5,
      `keep-alive connection closed after ${keptAfter} s (limit 1 s)`,
    );
    assert.ok(
      halfAfter !== undefined && halfAfter >= 2.9 && halfAfter < 5,
      `half-sent head closed after ${halfAfter} s (limit 3 s)`,
    );
    assert.ok(
      silentAfter !== undefined && silentAfter >= 2.9 && silentAfter < 5,
      `silent connection closed after ${silentAfter} s (limit 3 s)`,
    );

    // By now the stalled download has made no progress for over 2 s.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    let received = 0;
    const buffer = new Uint8Array(1 << 16);
    try {
      for (;;) {
        const n = await stalled.read(buffer);
        if (n === null) break;
        received += n;
      }
    } catch {
      // reset
    }
    stalled.close();
    assert.ok(
      received < 64 * 1024 * 1024,
      `the stalled download was cut, not sent whole (${received} bytes arrived)`,
    );
    assert.match(server.output(), /\(keepAliveTimeout\)/);
    assert.match(server.output(), /\(headerTimeout\)/);
    assert.match(server.output(), /\(socketTimeout\)/);

    // And the server still answers.
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /hello from/);
    // Ctrl-C is a stop asked for, as SIGTERM is: exit code 0.
    const status = await server.stop("SIGINT");
    assert.equal(status.code, 0, server.output());
    assert.match(server.output(), /SIGINT: finishing requests/);
  } finally {
    await server.stop("SIGKILL");
  }
});

Deno.test("under ulimit -n 256, 400 idle connections neither end the server nor stop it serving: accepting pauses, is logged once per burst, and the timeouts free the descriptors", async () => {
  const server = await startServerCommand([
    APP,
    ...["--host", "127.0.0.1", "--port", "0"],
    ...["--header-timeout", "3", "--keep-alive-timeout", "1"],
    // Above the descriptor limit, so that EMFILE is what stops accepting.
    ...["--max-clients", "1000"],
  ], { fileLimit: 256 });
  const port = portOf(server.urls[0]);
  let exited = false;
  server.child.status.then(() => exited = true);
  const idle: Deno.Conn[] = [];
  try {
    const opened = performance.now();
    for (let i = 0; i < 400; i++) {
      idle.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    const closing = idle.map((conn) => closedAfter(conn, opened, 60_000));

    // A real client meanwhile: served once timeouts have freed descriptors.
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      signal: AbortSignal.timeout(60_000),
    });
    assert.equal(response.status, 200);
    assert.match(await response.text(), /hello from/);
    assert.equal(exited, false, `the server exited:\n${server.output()}`);

    const closedAt = await Promise.all(closing);
    const open = closedAt.filter((at) => at === undefined).length;
    assert.equal(open, 0, `${open} of 400 idle connections never closed`);
    assert.equal(exited, false, `the server exited:\n${server.output()}`);

    const output = server.output();
    assert.match(output, /cannot accept connections \(.*Too many open files/);
    assert.match(output, /accepting connections again after/);
    const refusals = output.match(/cannot accept connections/g)!.length;
    assert.ok(
      refusals <= 10,
      `the refusal was logged ${refusals} times, not once per burst`,
    );

    await waitFor(
      async () => {
        const again = await fetch(`http://127.0.0.1:${port}/`);
        await again.body?.cancel();
        return again.status === 200;
      },
      10_000,
      "an answer after the flood",
    );
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0, server.output());
  } finally {
    for (const conn of idle) {
      try {
        conn.close();
      } catch {
        // closed by the server
      }
    }
    await server.stop("SIGKILL");
  }
});

Deno.test("serve().stop(): the listener closes at once, idle connections close, a request in flight finishes, readiness says 503 meanwhile", async () => {
  const router = createRouter();
  mountHealthChecks(router);
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  let slowStarted = false;
  router.all("/slow", async () => {
    slowStarted = true;
    await held;
    return new Response("finished");
  });
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    router.fetch,
  );
  const port = server.addr.port;
  // A keep-alive connection that asked something and is now idle.
  const idle = await Deno.connect({ hostname: "127.0.0.1", port });
  await idle.write(encoder.encode("GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.match(await readUntil(idle, "ready"), /^HTTP\/1.1 200/);
  // And one in flight.
  const busy = await Deno.connect({ hostname: "127.0.0.1", port });
  await busy.write(encoder.encode("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  await waitFor(
    () => server.connections === 2 && slowStarted,
    5000,
    "two connections, one busy",
  );

  const stopping = server.stop(10);
  // Load balancers and probes that still reach the router hear 503.
  const ready = await router.fetch(new Request("http://x/-/ready"));
  assert.equal(ready.status, 503);
  assert.equal(await ready.text(), "stopping\n");
  // The listener is closed: nobody new gets in (refused, or reset if the
  // kernel took the connection in the instant before the socket closed).
  await assert.rejects(
    (async () => {
      const late = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await late.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        if (await late.read(new Uint8Array(1024)) === null) {
          throw new Deno.errors.ConnectionReset("closed without an answer");
        }
      } finally {
        late.close();
      }
    })(),
    (error: Error) =>
      error instanceof Deno.errors.ConnectionRefused ||
      error instanceof Deno.errors.ConnectionReset,
  );
  const idleAfter = await closedAfter(idle, performance.now(), 5000);
  assert.ok(idleAfter !== undefined, "the idle connection was not closed");
  release();
  const answer = await readUntil(busy, "finished");
  assert.match(answer, /^HTTP\/1.1 200/);
  await stopping;
  assert.equal(server.connections, 0);
  busy.close();
  await server.finished;
  const after = await router.fetch(new Request("http://x/-/ready"));
  assert.equal(after.status, 200, "ready again once no server is stopping");
  await after.body?.cancel();
});

Deno.test("serve(): options are checked before anything listens, naming the option", () => {
  const handler = () => new Response("x");
  for (
    const [options, kind, pattern] of [
      [{ port: "80" }, TypeError, /"port" must be a port number/],
      [{ port: 70000 }, RangeError, /"port" must be an integer from 0/],
      [{ hostname: 1 }, TypeError, /"hostname"/],
      [{ cert: "pem" }, TypeError, /"cert" and "key" go together/],
      [{ keepAliveTimeout: -1 }, RangeError, /"keepAliveTimeout"/],
      [{ maxClients: 1.5 }, RangeError, /"maxClients"/],
      [{ signal: null }, TypeError, /unknown option "signal"/],
    ] as const
  ) {
    assert.throws(
      () => serve(options as never, handler),
      (error: Error) => error instanceof kind && pattern.test(error.message),
      JSON.stringify(options),
    );
  }
});

Deno.test("serve(): maxClients holds further clients in the backlog until a connection closes; keepAliveTimeout 0 closes after each response", async () => {
  const server = serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      maxClients: 2,
      keepAliveTimeout: 0,
      onListen() {},
    },
    () => new Response("hi"),
  );
  const port = server.addr.port;
  try {
    // Two silent connections fill the server.
    const first = await Deno.connect({ hostname: "127.0.0.1", port });
    const second = await Deno.connect({ hostname: "127.0.0.1", port });
    await waitFor(() => server.connections === 2, 5000, "two connections");
    // A third is taken by the kernel, but not answered...
    const third = await Deno.connect({ hostname: "127.0.0.1", port });
    await third.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const answer = readUntil(third, "hi");
    const early = await Promise.race([
      answer.then(() => "answered"),
      new Promise((resolve) => setTimeout(() => resolve("waiting"), 500)),
    ]);
    assert.equal(early, "waiting");
    assert.equal(server.connections, 2);
    // ...until one of the two closes.
    first.close();
    assert.match(await answer, /^HTTP\/1.1 200/);
    // keepAliveTimeout 0: closed right after its response.
    const closedIn = await closedAfter(third, performance.now(), 5000);
    assert.ok(
      closedIn !== undefined && closedIn < 1,
      `closed after ${closedIn} s`,
    );
    second.close();
  } finally {
    await server.stop(1);
  }
});
