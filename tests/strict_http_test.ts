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

let calls = 0;
const seen: { protocol?: string; body?: string }[] = [];

async function handler(
  request: Request,
  info: Deno.ServeHandlerInfo & { protocol?: string },
): Promise<Response> {
  calls++;
  const url = new URL(request.url);
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
