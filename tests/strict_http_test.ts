/**
 * `serve()`'s plain-HTTP parser (src/strict_http.ts): Apache's answers to
 * malformed framing, and everything a client relies on still working
 * through it (keep-alive, pipelining, chunked bodies both ways, HEAD,
 * `Expect: 100-continue`, repeated headers, a failing handler). Raw bytes
 * over loopback, against a TypeScript handler: no Python involved.
 *
 * @module
 */

import assert from "node:assert/strict";
import { serve } from "../mod.ts";

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

let calls = 0;
const seen: { protocol?: string; body?: string }[] = [];

async function handler(
  request: Request,
  info: Deno.ServeHandlerInfo & { protocol?: string },
): Promise<Response> {
  calls++;
  const url = new URL(request.url);
  if (url.pathname === "/digest") {
    const bytes = new Uint8Array(await request.arrayBuffer());
    return new Response(`${bytes.length} ${await sha256(bytes)}`);
  }
  seen.push({ protocol: info.protocol });
  const body = request.body ? await request.text() : undefined;
  seen.at(-1)!.body = body;
  switch (url.pathname) {
    case "/echo":
      return new Response(`${request.method} ${body ?? ""}`);
    case "/stream":
      return new Response(
        new ReadableStream({
          async start(controller) {
            controller.enqueue(encoder.encode("first;"));
            await new Promise((resolve) => setTimeout(resolve, 400));
            controller.enqueue(encoder.encode("second;"));
            controller.close();
          },
        }),
      );
    case "/cookies": {
      const headers = new Headers();
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response("ok", { headers });
    }
    case "/declared": {
      // A stream that says 5 bytes: "short" sends 2, "long" sends 8.
      const text = url.searchParams.get("send") === "short" ? "ab" : "abcdefgh";
      return new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(encoder.encode(text));
            controller.close();
          },
        }),
        { headers: { "content-length": "5" } },
      );
    }
    case "/throw":
      throw new Error("the handler failed on purpose");
    default:
      return new Response("hello", { headers: { "x-path": url.pathname } });
  }
}

const server = serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  handler,
);
const port = server.addr.port;

/** Sends `request` on a new connection and reads until the server closes it or `until` has arrived. */
async function exchange(
  request: string,
  until?: (text: string) => boolean,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5000);
  let text = "";
  try {
    await conn.write(encoder.encode(request));
    const buffer = new Uint8Array(65536);
    while (!until?.(text)) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += latin1.decode(buffer.subarray(0, n));
    }
  } catch {
    // closed by the timer or reset: what came is what there is
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
  return text;
}

/** Malformed requests: the head ones never reach the handler, a malformed body fails its read. */
const refused = [
  [
    "bare-LF line ends",
    "GET /x HTTP/1.1\nHost: x\nConnection: close\n\n",
  ],
  ["HTTP/1.1 without Host", "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n"],
  [
    "a chunk size that is not hexadecimal",
    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
  ],
  [
    "Content-Length and Transfer-Encoding together",
    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
  ],
  [
    "a space before the colon of a header",
    "GET /x HTTP/1.1\r\nHost : x\r\nConnection: close\r\n\r\n",
  ],
];

for (const [what, request] of refused) {
  Deno.test(`strict HTTP: ${what} gets 400 and never reaches the app`, async () => {
    const before = calls;
    const text = await exchange(request);
    assert.match(text, /^HTTP\/1\.1 400 /);
    if (what.includes("chunk size")) {
      // The head was whole, so the handler ran; its read of the body failed.
      assert.equal(seen.at(-1)?.body, undefined);
    } else {
      assert.equal(calls, before, "the handler was called");
    }
    // The server goes on serving.
    assert.match(
      await exchange("GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      /^HTTP\/1\.1 200 OK/,
    );
  });
}

Deno.test("strict HTTP: HTTP/1.0 without Host is served, the handler is told HTTP/1.0, and the connection closes after it", async () => {
  const text = await exchange("GET /x HTTP/1.0\r\n\r\n");
  assert.match(text, /^HTTP\/1\.1 200 OK/);
  assert.match(text, /\r\n\r\nhello$/);
  assert.equal(seen.at(-1)?.protocol, "HTTP/1.0");
});

Deno.test("strict HTTP: two requests on one kept-alive connection, and two pipelined in one write, are answered in order", async () => {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buffer = new Uint8Array(65536);
  const answers: string[] = [];
  try {
    for (const path of ["/one", "/two"]) {
      await conn.write(
        encoder.encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`),
      );
      const n = await conn.read(buffer);
      answers.push(latin1.decode(buffer.subarray(0, n ?? 0)));
    }
  } finally {
    conn.close();
  }
  assert.match(answers[0], /x-path: \/one/);
  assert.match(answers[1], /x-path: \/two/);
  assert.equal(seen.at(-1)?.protocol, "HTTP/1.1");

  const both = await exchange(
    "GET /three HTTP/1.1\r\nHost: x\r\n\r\nGET /four HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.ok(
    both.indexOf("x-path: /three") < both.indexOf("x-path: /four") &&
      both.indexOf("x-path: /three") > 0,
    both,
  );
});

Deno.test("strict HTTP: a chunked and a sized request body reach the handler whole", async () => {
  const chunked = await exchange(
    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
  );
  assert.match(chunked, /^HTTP\/1\.1 200 OK/);
  assert.match(chunked, /\r\n\r\nPOST abcdefg$/);
  const sized = await exchange(
    "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
  );
  assert.match(sized, /\r\n\r\nPUT hello$/);
  assert.match(sized, /content-length: 9\r\n/i);
});

Deno.test("strict HTTP: large request bodies, sized and chunked, arrive byte for byte over many reads", async () => {
  // Several MiB arrive over many reads, the parser pausing while the
  // handler's stream is full; twice, so the second comes on a used connection.
  const bytes = new Uint8Array(3 * 1024 * 1024 + 7);
  for (let offset = 0; offset < bytes.length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, offset + 65536));
  }
  const expected = `${bytes.length} ${await sha256(bytes)}`;
  const url = `http://127.0.0.1:${port}/digest`;
  for (let round = 0; round < 2; round++) {
    const sized = await fetch(url, { method: "POST", body: bytes });
    assert.equal(await sized.text(), expected);
    const chunked = await fetch(url, {
      method: "POST",
      body: new Blob([bytes]).stream(),
    });
    assert.equal(await chunked.text(), expected);
  }
});

Deno.test("strict HTTP: a streamed body that breaks its Content-Length ends the connection after it; what runs over is dropped", async () => {
  for (const [send, body] of [["short", "ab"], ["long", "abcde"]]) {
    const started = performance.now();
    // A second request on the same connection is never answered.
    const text = await exchange(
      `GET /declared?send=${send} HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /content-length: 5\r\n/);
    // The head went out before the body broke its word: the connection's
    // end is what tells the client.
    assert.equal(text.slice(text.indexOf("\r\n\r\n") + 4), body);
    assert.ok(performance.now() - started < 1500, "closed at once");
  }
});

Deno.test("strict HTTP: Expect: 100-continue gets 100 before the body is sent", async () => {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buffer = new Uint8Array(65536);
  try {
    await conn.write(encoder.encode(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    ));
    const first = latin1.decode(
      buffer.subarray(0, await conn.read(buffer) ?? 0),
    );
    assert.match(first, /^HTTP\/1\.1 100 Continue\r\n/);
    await conn.write(encoder.encode("body"));
    let rest = first;
    while (!rest.endsWith("POST body")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      rest += latin1.decode(buffer.subarray(0, n));
    }
    assert.match(rest, /200 OK[\s\S]*POST body$/);
  } finally {
    conn.close();
  }
});

Deno.test("strict HTTP: a streamed response goes out chunk by chunk, HEAD gets headers only, repeated headers stay apart", async () => {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buffer = new Uint8Array(65536);
  try {
    await conn.write(encoder.encode(
      "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    const started = performance.now();
    let text = "";
    while (!text.includes("first;")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += latin1.decode(buffer.subarray(0, n));
    }
    const firstAfter = performance.now() - started;
    assert.match(text, /transfer-encoding: chunked/i);
    assert.ok(firstAfter < 300, `the first chunk came after ${firstAfter} ms`);
    assert.doesNotMatch(text, /second;/);
  } finally {
    conn.close();
  }

  const head = await exchange(
    "HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.match(head, /^HTTP\/1\.1 200 OK/);
  assert.ok(head.endsWith("\r\n\r\n"), head);

  const cookies = await exchange(
    "GET /cookies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.match(cookies, /set-cookie: a=1\r\n/i);
  assert.match(cookies, /set-cookie: b=2\r\n/i);
});

Deno.test("strict HTTP: a handler that throws gets 500, and the connection serves its next request", async () => {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buffer = new Uint8Array(65536);
  try {
    await conn.write(
      encoder.encode("GET /throw HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    const failed = latin1.decode(
      buffer.subarray(0, await conn.read(buffer) ?? 0),
    );
    assert.match(failed, /^HTTP\/1\.1 500 /);
    await conn.write(encoder.encode("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
    const next = latin1.decode(
      buffer.subarray(0, await conn.read(buffer) ?? 0),
    );
    assert.match(next, /^HTTP\/1\.1 200 OK/);
  } finally {
    conn.close();
  }
});

Deno.test("strict HTTP: stop the server", async () => {
  await server.stop(1);
});
