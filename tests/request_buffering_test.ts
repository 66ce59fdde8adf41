/**
 * Request buffering over real HTTP (issue 13, "slow clients never hold a
 * Python worker"): stalled uploads cost a connection and never a worker,
 * bodyTimeout ends them with 408, and a body above bodyBufferSize goes
 * through a temporary file byte for byte and leaves nothing behind. The
 * streaming mount beside it (requestBuffering: false) shows what the same
 * stall did before: it held the only worker.
 */

import assert from "node:assert/strict";
import { createRouter, defineGroup, mountWsgi } from "../mod.ts";
import {
  appPath,
  collectLogs,
  printedPort,
  responseComplete,
  serve,
  waitFor,
} from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const app = appPath("hostile_app.wsgi");
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const spillFolder = Deno.makeTempDirSync({ prefix: "deno-wsgi-spill-" });

const logs = collectLogs();
// One Web Worker: a stall that took it would stop every other request.
const group = defineGroup("request-buffering", {
  processes: 1,
  requestTimeout: 30,
});
const router = createRouter();
const shared = { group, applicationGroup: "%{GLOBAL}" };
// A hard 3 s limit on the whole body (no minimum-rate extension).
mountWsgi(router, "/b", app, { ...shared, bodyTimeout: 3, bodyMinRate: 0 });
mountWsgi(router, "/s", app, {
  ...shared,
  requestBuffering: false,
  bodyTimeout: 3,
  bodyMinRate: 0,
});
// 1 s, plus 1 s per 500 bytes received: mod_wsgi-express's rule.
mountWsgi(router, "/r", app, { ...shared, bodyTimeout: 1, bodyMinRate: 500 });
mountWsgi(router, "/f", app, {
  ...shared,
  bodyBufferSize: 65536,
  bodyBufferFolder: spillFolder,
  limitRequestBody: 0,
});
const ready = group.ready().then(() => serve(router.fetch));

/** Opens a connection and sends the head and the first part of a body, then stalls. */
async function stall(
  port: number,
  head: string,
  part: Uint8Array,
): Promise<Deno.TcpConn> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  await connection.write(encoder.encode(head));
  await connection.write(part);
  return connection;
}

/** Reads what the server sends until its response is whole or it closes. */
async function readAll(connection: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(65536);
  let text = "";
  try {
    while (true) {
      const n = await connection.read(buffer);
      if (n === null) break;
      text += latin1.decode(buffer.subarray(0, n));
      if (responseComplete(text)) break;
    }
  } catch {
    // A reset after the answer counts as closed.
  }
  connection.close();
  return text;
}

async function timedHello(base: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${base}/b/hello`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "hello");
  return performance.now() - started;
}

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Paths the test process holds open inside the spill folder. */
function openSpillFiles(): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
      if (target.startsWith(spillFolder + "/")) found.push(target);
    } catch {
      // Closed while we looked.
    }
  }
  return found;
}

Deno.test({
  name:
    "stalled uploads, more than the workers, hold no worker: other requests are served at full speed, and each stall gets 408 at bodyTimeout",
  ...options,
  async fn() {
    const server = await ready;
    await timedHello(server.base);
    const before = group.metrics();
    const started = performance.now();
    const stalls = await Promise.all([
      stall(
        server.port,
        "POST /b/sha HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
        new Uint8Array(300 * 1024),
      ),
      stall(
        server.port,
        "POST /b/sha HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
        new Uint8Array(300 * 1024),
      ),
      stall(
        server.port,
        "POST /b/sha HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        encoder.encode(`3e8\r\n${"a".repeat(1000)}\r\n`),
      ),
    ]);
    const answers = stalls.map((connection) =>
      readAll(connection).then((text) => ({
        text,
        ms: performance.now() - started,
      }))
    );
    const times: number[] = [];
    for (let i = 0; i < 10; i++) times.push(await timedHello(server.base));
    assert.ok(
      Math.max(...times) < 1500,
      `a request waited ${Math.round(Math.max(...times))} ms beside the stalls`,
    );
    for (const { text, ms } of await Promise.all(answers)) {
      assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.ok(ms > 2800 && ms < 8000, `408 after ${Math.round(ms)} ms`);
    }
    const after = group.metrics();
    assert.equal(after.restarts, before.restarts, "a worker was restarted");
    assert.equal(after.crashes, before.crashes);
    assert.equal(after.timeouts, before.timeouts);
    // Python saw the hellos only, never the stalled uploads.
    assert.equal(after.requests - before.requests, 10);
    assert.match(logs.text(), /did not arrive within bodyTimeout \(3 s\)/);
  },
});

Deno.test({
  name:
    "requestBuffering: false streams into Python, so the same stall holds the worker until bodyTimeout; the app's read fails and the client gets 408",
  ...options,
  async fn() {
    const server = await ready;
    const connection = await stall(
      server.port,
      "POST /s/sha HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
      new Uint8Array(300 * 1024),
    );
    const answer = readAll(connection);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const waited = await timedHello(server.base);
    assert.ok(waited > 1500, `the hello waited only ${Math.round(waited)} ms`);
    assert.match(await answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(
      logs.text(),
      /upload failed: OSError\('request data read error: the request body did not arrive within bodyTimeout/,
    );
  },
});

Deno.test({
  name:
    "bodyTimeout grows by 1 s per bodyMinRate bytes received, as mod_reqtimeout's MinRate",
  ...options,
  async fn() {
    const server = await ready;
    const started = performance.now();
    const connection = await stall(
      server.port,
      "POST /r/sha HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
      new Uint8Array(1000),
    );
    const text = await readAll(connection);
    const ms = performance.now() - started;
    assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    // 1 s + 1000 bytes / 500 bytes per second = 3 s.
    assert.ok(ms > 2800 && ms < 8000, `408 after ${Math.round(ms)} ms`);
  },
});

Deno.test({
  name:
    "a body over bodyBufferSize goes through a temporary file, arrives byte for byte, and leaves nothing behind",
  ...options,
  async fn() {
    const server = await ready;
    const body = new Uint8Array(3 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 12)) & 255;
    const connection = await stall(
      server.port,
      `POST /f/sha HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`,
      body.subarray(0, 1024 * 1024),
    );
    // The file is open, and already unlinked from the folder.
    await waitFor(
      () => openSpillFiles().length === 1,
      10_000,
      "the spilled body's file",
    );
    assert.match(openSpillFiles()[0], /deno-wsgi-body-.*\(deleted\)$/);
    assert.deepEqual([...Deno.readDirSync(spillFolder)], []);
    await connection.write(body.subarray(1024 * 1024));
    const text = await readAll(connection);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    const answer = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
    assert.deepEqual(answer, {
      sha256: await sha256(body),
      size: body.length,
      content_length: String(body.length),
    });
    await waitFor(() => openSpillFiles().length === 0, 5000, "the file closed");
    assert.deepEqual([...Deno.readDirSync(spillFolder)], []);

    // Chunked, read line by line: CONTENT_LENGTH is set once it is known.
    const lines = encoder.encode(
      Array.from(
        { length: 40_000 },
        (_, i) => `line ${i} ${"x".repeat(i % 97)}\n`,
      )
        .join(""),
    );
    const chunked = (data: Uint8Array) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < data.length; at += 50_000) {
            controller.enqueue(data.slice(at, at + 50_000));
          }
          controller.close();
        },
      });
    const byLines = await fetch(`${server.base}/f/lines`, {
      method: "POST",
      body: chunked(lines),
    });
    assert.deepEqual(await byLines.json(), {
      sha256: await sha256(lines),
      lines: 40_000,
    });
    const sized = await fetch(`${server.base}/f/sha`, {
      method: "POST",
      body: chunked(lines),
    });
    assert.deepEqual(await sized.json(), {
      sha256: await sha256(lines),
      size: lines.length,
      content_length: String(lines.length),
    });
    await waitFor(
      () => openSpillFiles().length === 0,
      5000,
      "the files closed",
    );
  },
});

Deno.test({
  name:
    "without --allow-write a large body stays in memory, arrives whole, and the log names the flag once",
  ...options,
  async fn() {
    const folder = Deno.makeTempDirSync({ prefix: "deno-wsgi-closed-" });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-sys",
        appPath("buffering_server.ts"),
        app,
        folder,
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    try {
      const port = await printedPort(child);
      const body = new Uint8Array(1024 * 1024).fill(120);
      for (let i = 0; i < 2; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/sha`, {
          method: "POST",
          body,
        });
        assert.deepEqual(await response.json(), {
          sha256: await sha256(body),
          size: body.length,
          content_length: String(body.length),
        });
      }
    } finally {
      child.kill("SIGTERM");
      await child.status;
      Deno.removeSync(folder, { recursive: true });
    }
    const said = (await stderr).split("\n").filter((line) =>
      line.includes("larger than bodyBufferSize")
    );
    assert.equal(said.length, 1, said.join("\n"));
    assert.ok(said[0].includes(`--allow-write=${folder}`), said[0]);
  },
});

Deno.test({
  name: "request buffering: stop the server and the group",
  ...options,
  async fn() {
    await (await ready).close();
    await group.shutdown();
    logs.stop();
    Deno.removeSync(spillFolder, { recursive: true });
  },
});
