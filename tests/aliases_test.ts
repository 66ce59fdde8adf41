/**
 * Static aliases over real HTTP on loopback: createAlias/matchAlias/
 * serveAlias behind a small Deno.serve handler, fetched with fetch() or, for
 * paths fetch() would normalize, with raw HTTP/1.1 over TCP. The last tests
 * go through alias() and mountWsgi() to show that aliases win over an app
 * mounted at "/" and that Python never sees their requests.
 */

import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  type AliasOptions,
  createAlias,
  matchAlias,
  serveAlias,
  type StaticAlias,
} from "../src/aliases.ts";
import { alias, createRouter, defineGroup, mountWsgi } from "../mod.ts";

// ---------------------------------------------------------------- fixtures

const site = await Deno.realPath(
  await Deno.makeTempDir({ prefix: "aliases-site-" }),
);
const outside = await Deno.realPath(
  await Deno.makeTempDir({ prefix: "aliases-outside-" }),
);
const media = `${site}/media`;
const BIG_SIZE = 1024 * 1024;
const big = new Uint8Array(BIG_SIZE).map((_, i) => (i * 7 + (i >> 11)) % 251);
const DIGITS = "0123456789abcdefghij";
const CSS = "body { color: red; }\n";
const OLD_MTIME = new Date("2020-01-02T03:04:05Z");

await Deno.mkdir(`${media}/sub`, { recursive: true });
await Deno.mkdir(`${media}/bare/nested`, { recursive: true });
await Deno.mkdir(`${media}/.git`, { recursive: true });
await Deno.mkdir(`${media}/evil.com`, { recursive: true });
await Deno.writeTextFile(`${site}/robots.txt`, "User-agent: *\nDisallow:\n");
await Deno.writeTextFile(`${site}/app-source.py`, "SECRET = 1\n");
await Deno.writeTextFile(`${media}/site.css`, CSS);
await Deno.writeTextFile(`${media}/script.js`, "export {};\n");
await Deno.writeTextFile(`${media}/data.unknownext`, "?\n");
await Deno.writeTextFile(`${media}/digits.txt`, DIGITS);
await Deno.writeTextFile(`${media}/empty.txt`, "");
await Deno.writeTextFile(`${media}/café menu.txt`, "soupe\n");
await Deno.writeTextFile(`${media}/old.txt`, "old\n");
await Deno.utime(`${media}/old.txt`, OLD_MTIME, OLD_MTIME);
await Deno.writeFile(`${media}/big.bin`, big);
// Sparse, so it costs no disk, and larger than loopback socket buffers, so
// that a client reading slowly really leaves the server mid-file.
const HUGE_SIZE = 256 * 1024 * 1024;
await Deno.truncate(`${media}/huge.bin`, HUGE_SIZE).catch(async () => {
  await Deno.writeFile(`${media}/huge.bin`, new Uint8Array());
  await Deno.truncate(`${media}/huge.bin`, HUGE_SIZE);
});
await Deno.writeTextFile(`${media}/sub/index.html`, "<h1>sub index</h1>\n");
await Deno.writeTextFile(`${media}/sub/.hidden`, "hidden in sub\n");
await Deno.writeTextFile(`${media}/bare/a <b>&'".txt`, "a\n");
await Deno.writeTextFile(`${media}/bare/.secret`, "bare secret\n");
await Deno.writeTextFile(`${media}/.secret`, "dot secret\n");
await Deno.writeTextFile(`${media}/.git/config`, "[core]\n");
// On Linux "\\" is an ordinary name character; a server that let it through
// would serve this file, and on Windows it would be a separator.
await Deno.writeTextFile(`${media}/sub\\index.html`, "SECRET backslash\n");
await Deno.writeTextFile(`${outside}/passwd`, "root:x:0:0\n");
await Deno.symlink(`${outside}/passwd`, `${media}/escape.txt`);
await Deno.symlink(outside, `${media}/escape-dir`);
await Deno.symlink(`${media}/site.css`, `${media}/inside-link.css`);
await Deno.symlink(`${media}/sub`, `${media}/sub-link`);
// A link inside the root to a link that leads out of it.
await Deno.symlink(`${media}/escape-dir`, `${media}/via-inside`);
await Deno.symlink(media, `${site}/media-link`);

// ----------------------------------------------------------------- helpers

/** A Deno server answering with the given aliases, else "fallback <path>". */
interface AliasServer {
  base: string;
  port: number;
  close(): Promise<void>;
}

/** The request path exactly as sent: new URL() would resolve "%2e%2e". */
function rawPathname(url: string): string {
  const target = url.slice(url.indexOf("/", url.indexOf("://") + 3));
  return target.split(/[?#]/)[0];
}

function serveAliases(aliases: StaticAlias[]): AliasServer {
  const longestFirst = [...aliases].sort((a, b) =>
    b.urlPath.length - a.urlPath.length
  );
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const pathname = rawPathname(request.url);
      for (const candidate of longestFirst) {
        const remainder = matchAlias(candidate, pathname);
        if (remainder !== null) {
          return await serveAlias(candidate, request, remainder);
        }
      }
      return new Response(`fallback ${pathname}`);
    },
  );
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    port: server.addr.port,
    close: () => server.shutdown(),
  };
}

/** Runs `body` against a fresh server for `aliases` and shuts it down. */
async function withServer(
  aliases: StaticAlias[],
  body: (server: AliasServer) => Promise<void>,
): Promise<void> {
  const server = serveAliases(aliases);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** The aliases most tests use. */
function standardAliases(): StaticAlias[] {
  return [
    createAlias("/robots.txt", `${site}/robots.txt`),
    createAlias("/media/", `${media}/`, { cacheControl: "max-age=60" }),
  ];
}

interface RawResponse {
  status: number;
  headers: Headers;
  /** The body bytes exactly as sent (de-chunked if chunked). */
  body: Uint8Array;
  text: string;
}

const latin1 = new TextDecoder("latin1");

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function dechunk(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  while (offset < data.length) {
    const text = latin1.decode(data.subarray(offset, offset + 20));
    const lineEnd = text.indexOf("\r\n");
    const size = parseInt(text.slice(0, lineEnd), 16);
    if (!size) break;
    const start = offset + lineEnd + 2;
    parts.push(data.subarray(start, start + size));
    offset = start + size + 2;
  }
  return concat(parts);
}

/**
 * Sends one request exactly as written, with "Connection: close", and reads
 * the response to the end of the connection, so nothing (not even a path
 * fetch() would clean up, nor a HEAD body) is hidden.
 */
async function rawRequest(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const chunks: Uint8Array[] = [];
  try {
    const lines = [
      `${method} ${target} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Connection: close",
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    let request = new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n`);
    while (request.length > 0) {
      request = request.subarray(await connection.write(request));
    }
    while (true) {
      const buffer = new Uint8Array(64 * 1024);
      const read = await connection.read(buffer);
      if (read === null) break;
      chunks.push(buffer.subarray(0, read));
    }
  } finally {
    connection.close();
  }
  const data = concat(chunks);
  const headEnd = latin1.decode(data).indexOf("\r\n\r\n");
  assert.ok(headEnd > 0, `no complete response to ${method} ${target}`);
  const [statusLine, ...headerLines] = latin1.decode(data.subarray(0, headEnd))
    .split("\r\n");
  const responseHeaders = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    responseHeaders.append(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  let body = data.subarray(headEnd + 4);
  if (responseHeaders.get("transfer-encoding") === "chunked") {
    body = dechunk(body);
  }
  return {
    status: Number(statusLine.split(" ")[1]),
    headers: responseHeaders,
    body,
    text: new TextDecoder().decode(body),
  };
}

async function fetchText(
  url: string,
  init?: RequestInit,
): Promise<{ response: Response; text: string }> {
  const response = await fetch(url, init);
  return { response, text: await response.text() };
}

async function fetchBytes(
  url: string,
  init?: RequestInit,
): Promise<{ response: Response; bytes: Uint8Array }> {
  const response = await fetch(url, init);
  return { response, bytes: new Uint8Array(await response.arrayBuffer()) };
}

// -------------------------------------------------------- createAlias

Deno.test("createAlias: file and folder aliases, with defaults filled in", () => {
  const file = createAlias("/robots.txt", `${site}/robots.txt`);
  assert.equal(file.kind, "file");
  assert.equal(file.target, `${site}/robots.txt`);
  assert.deepEqual(file.options, {
    cacheControl: "",
    index: "index.html",
    dotfiles: false,
    listDirectories: false,
  });
  const folder = createAlias("/media/", `${media}/`);
  assert.equal(folder.kind, "directory");
  // A folder target makes a folder alias even without the trailing "/".
  assert.equal(createAlias("/docs", media).kind, "directory");
  // The target is stored with symlinks resolved, for the containment check.
  assert.equal(createAlias("/m/", `${site}/media-link`).target, media);
});

Deno.test("createAlias: bad arguments fail with a message naming them and saying what to do", () => {
  const cases: [() => unknown, RegExp][] = [
    [
      () => createAlias("media/", media),
      /URL path must be a string starting with "\/"/,
    ],
    [() => createAlias("/media?x=1", media), /plain decoded path.*no "\?"/],
    [() => createAlias("/a/../media", media), /plain decoded path/],
    [() => createAlias("/my%20files/", media), /write "\/my files\/"/],
    [
      () => createAlias("/x", `${site}/missing`),
      /target .*missing cannot be read.*check that the path exists/,
    ],
    [
      () => createAlias("/x", ""),
      /the target must be the path of a file or folder/,
    ],
    [() => createAlias("/x/", `${site}/robots.txt`), /drop the trailing "\/"/],
    [() => createAlias("/null", "/dev/null"), /neither a file nor a folder/],
    [
      () => createAlias("/x/", media, { cacheControl: "a\r\nb" }),
      /option "cacheControl" must be a header value on one line/,
    ],
    [
      () => createAlias("/x/", media, { index: "a/b.html" }),
      /option "index" must be a file name/,
    ],
    [
      () =>
        createAlias("/x/", media, { dotfiles: "yes" as unknown as boolean }),
      /option "dotfiles" must be true or false/,
    ],
    [
      () => createAlias("/x/", media, { colour: 1 } as unknown as AliasOptions),
      /unknown option "colour"; the options are cacheControl/,
    ],
  ];
  for (const [call, message] of cases) {
    assert.throws(call, message);
  }
});

// --------------------------------------------------------- matchAlias

Deno.test("matchAlias: files match exactly, folders match whole segments, in canonical form", () => {
  const file = createAlias("/robots.txt", `${site}/robots.txt`);
  assert.equal(matchAlias(file, "/robots.txt"), "");
  assert.equal(matchAlias(file, "/robots%2Etxt"), "", "%2E is the same '.'");
  assert.equal(matchAlias(file, "/robots.txt/"), null);
  assert.equal(matchAlias(file, "/robots.txtx"), null);
  assert.equal(matchAlias(file, "/ROBOTS.txt"), null);

  const folder = createAlias("/media/", media);
  assert.equal(matchAlias(folder, "/media"), "");
  assert.equal(matchAlias(folder, "/media/"), "/");
  assert.equal(matchAlias(folder, "/media/css/site.css"), "/css/site.css");
  assert.equal(matchAlias(folder, "/medi%61/site.css"), "/site.css");
  assert.equal(matchAlias(folder, "/mediax"), null);
  assert.equal(matchAlias(folder, "/mediax/site.css"), null);
  assert.equal(matchAlias(folder, "/media%2Fsite.css"), null, "%2F is data");
  assert.equal(matchAlias(folder, "/other/media/x"), null);
  // The remainder keeps reserved escapes for serveAlias to judge.
  assert.equal(matchAlias(folder, "/media/a%2fb"), "/a%2Fb");
  assert.equal(matchAlias(folder, "/media/%2e%2e/x"), "/../x");
  assert.equal(matchAlias(folder, "/media/%zz"), "/%zz");

  const accented = createAlias("/café/", media);
  assert.equal(matchAlias(accented, "/caf%C3%A9/x"), "/x");
  assert.equal(matchAlias(accented, "/caf%c3%a9/x"), "/x");
  assert.equal(matchAlias(accented, "/cafe/x"), null);

  const root = createAlias("/", media);
  assert.equal(matchAlias(root, "/"), "/");
  assert.equal(matchAlias(root, "/anything/at/all"), "/anything/at/all");
});

// ---------------------------------------------------------- serving files

Deno.test("serveAlias: a file alias sends the file with type, length and validators, and no Cache-Control by default", async () => {
  await withServer(standardAliases(), async ({ base }) => {
    const { response, text } = await fetchText(`${base}/robots.txt`);
    assert.equal(response.status, 200);
    assert.equal(text, "User-agent: *\nDisallow:\n");
    assert.equal(
      response.headers.get("content-type"),
      "text/plain; charset=utf-8",
    );
    assert.equal(response.headers.get("content-length"), "24");
    assert.equal(response.headers.get("accept-ranges"), "bytes");
    assert.match(response.headers.get("etag")!, /^"[0-9a-f]+-[0-9a-f]+"$/);
    const modified = (await Deno.stat(`${site}/robots.txt`)).mtime!;
    assert.equal(
      response.headers.get("last-modified"),
      modified.toUTCString(),
    );
    assert.equal(response.headers.get("cache-control"), null);
    const other = await fetchText(`${base}/robotsx.txt`);
    assert.equal(other.text, "fallback /robotsx.txt");
  });
});

Deno.test("serveAlias: types come from the mime table, with a charset for text, and Cache-Control as configured", async () => {
  await withServer(standardAliases(), async ({ base }) => {
    const expected: [string, string][] = [
      ["/media/site.css", "text/css; charset=utf-8"],
      ["/media/script.js", "text/javascript; charset=utf-8"],
      ["/media/big.bin", "application/octet-stream"],
      ["/media/data.unknownext", "application/octet-stream"],
      ["/media/sub/index.html", "text/html; charset=utf-8"],
      ["/media/inside-link.css", "text/css; charset=utf-8"],
    ];
    for (const [path, type] of expected) {
      const response = await fetch(`${base}${path}`);
      await response.body?.cancel();
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get("content-type"), type, path);
      assert.equal(response.headers.get("cache-control"), "max-age=60", path);
    }
    const accented = await fetchText(`${base}/media/caf%C3%A9%20menu.txt`);
    assert.equal(accented.response.status, 200);
    assert.equal(accented.text, "soupe\n");
  });
});

Deno.test("serveAlias: a 1 MiB file streams whole, byte for byte; an empty file is empty", async () => {
  await withServer(standardAliases(), async ({ base }) => {
    const { response, bytes } = await fetchBytes(`${base}/media/big.bin`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), String(BIG_SIZE));
    assert.deepEqual(bytes, big);
    const empty = await fetchText(`${base}/media/empty.txt`);
    assert.equal(empty.response.status, 200);
    assert.equal(empty.response.headers.get("content-length"), "0");
    assert.equal(empty.text, "");
  });
});

/** How many of this process's file descriptors are open on `path` (Linux). */
function openDescriptorsOn(path: string): number {
  let count = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === path) count++;
    } catch {
      // closed between the listing and the look
    }
  }
  return count;
}

/** Waits a little for closes that happen after the response has gone. */
async function assertNothingOpenOn(path: string, when: string): Promise<void> {
  for (
    let attempt = 0;
    attempt < 50 && openDescriptorsOn(path) > 0;
    attempt++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(openDescriptorsOn(path), 0, `${path} left open ${when}`);
}

const onLinux = Deno.build.os === "linux";

Deno.test({
  name: "serveAlias: a download the client abandons closes its file",
  ignore: !onLinux,
  fn: async () => {
    await withServer(standardAliases(), async ({ base }) => {
      for (
        const range of [
          undefined,
          "bytes=100-200000000",
          "bytes=0-9,-200000000",
        ]
      ) {
        const response = await fetch(`${base}/media/huge.bin`, {
          headers: range ? { range } : {},
        });
        const reader = response.body!.getReader();
        const first = await reader.read();
        assert.ok(!first.done && first.value.length > 0);
        assert.ok(
          openDescriptorsOn(`${media}/huge.bin`) > 0,
          `streaming ${range}`,
        );
        await reader.cancel();
        await assertNothingOpenOn(`${media}/huge.bin`, `after ${range}`);
      }
    });
  },
});

Deno.test({
  name: "serveAlias: every kind of answer closes the file it opened",
  ignore: !onLinux,
  fn: async () => {
    await withServer(standardAliases(), async ({ base, port }) => {
      const first = await fetch(`${base}/media/big.bin`);
      await first.body?.cancel();
      const etag = first.headers.get("etag")!;
      const requests: [string, Record<string, string>][] = [
        ["GET", {}],
        ["HEAD", {}],
        ["GET", { "if-none-match": etag }],
        ["GET", { "if-match": '"other"' }],
        ["GET", { range: "bytes=0-9" }],
        ["GET", { range: "bytes=100-900000" }],
        ["GET", { range: "bytes=0-9,-900000" }],
        ["GET", { range: "bytes=2000000-" }],
      ];
      for (const [method, headers] of requests) {
        const response = await rawRequest(
          port,
          method,
          "/media/big.bin",
          headers,
        );
        assert.ok(response.status < 500);
        await assertNothingOpenOn(
          `${media}/big.bin`,
          `after ${method} ${JSON.stringify(headers)}`,
        );
      }
      for (const path of ["/media/sub/", "/media/sub", "/media/bare/"]) {
        await rawRequest(port, "GET", path);
        await assertNothingOpenOn(`${media}/sub/index.html`, `after ${path}`);
        await assertNothingOpenOn(`${media}/sub`, `after ${path}`);
        await assertNothingOpenOn(`${media}/bare`, `after ${path}`);
      }
    });
  },
});

Deno.test({
  name:
    "serveAlias: a FIFO is refused at once, never opened (opening one waits for a writer)",
  ignore: !onLinux,
  fn: async () => {
    const fifo = `${media}/pipe`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success, "mkfifo failed");
    // If the server did open the FIFO, its synchronous open would block
    // until this writer shows up 2 s later: the test then fails on time
    // instead of hanging for ever.
    const writer = new Deno.Command("sh", {
      args: ["-c", `sleep 2; echo x > '${fifo}'`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await withServer(standardAliases(), async ({ port }) => {
        const started = performance.now();
        const response = await rawRequest(port, "GET", "/media/pipe");
        const elapsed = performance.now() - started;
        assert.equal(response.status, 404);
        assert.ok(elapsed < 1000, `took ${Math.round(elapsed)} ms`);
      });
    } finally {
      writer.kill("SIGKILL");
      await writer.status;
      await Deno.remove(fifo);
    }
  },
});

Deno.test("serveAlias: a changed file is sent anew with a new ETag", async () => {
  const path = `${media}/changing.txt`;
  await Deno.writeTextFile(path, "one\n");
  try {
    await withServer(standardAliases(), async ({ base }) => {
      const first = await fetchText(`${base}/media/changing.txt`);
      await Deno.writeTextFile(path, "two, longer\n");
      const second = await fetchText(`${base}/media/changing.txt`);
      assert.equal(first.text, "one\n");
      assert.equal(second.text, "two, longer\n");
      assert.notEqual(
        first.response.headers.get("etag"),
        second.response.headers.get("etag"),
      );
    });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("serveAlias: HEAD sends GET's headers and no body at all", async () => {
  await withServer(standardAliases(), async ({ port }) => {
    const head = await rawRequest(port, "HEAD", "/media/big.bin");
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(BIG_SIZE));
    assert.equal(head.headers.get("content-type"), "application/octet-stream");
    assert.ok(head.headers.get("etag"));
    assert.equal(head.body.length, 0, "no body bytes on the wire");
    const ranged = await rawRequest(port, "HEAD", "/media/big.bin", {
      range: "bytes=0-9",
    });
    assert.equal(ranged.status, 200, "Range is for GET only");
    assert.equal(ranged.body.length, 0);
    const missing = await rawRequest(port, "HEAD", "/media/missing.txt");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.length, 0);
  });
});

Deno.test("serveAlias: only GET and HEAD; other methods answer 405 with Allow", async () => {
  await withServer(standardAliases(), async ({ base }) => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      for (const path of ["/robots.txt", "/media/site.css", "/media/sub/"]) {
        const response = await fetch(`${base}${path}`, {
          method,
          body: method === "OPTIONS" ? undefined : "x",
        });
        await response.body?.cancel();
        assert.equal(response.status, 405, `${method} ${path}`);
        assert.equal(response.headers.get("allow"), "GET, HEAD");
      }
    }
  });
});

// ----------------------------------------------------------------- ranges

Deno.test("ranges: a single range answers 206 with Content-Range; beyond the end answers 416", async () => {
  await withServer(standardAliases(), async ({ base }) => {
    const url = `${base}/media/big.bin`;
    const cases: [string, number, number][] = [
      ["bytes=100-199", 100, 199],
      ["bytes=-10", BIG_SIZE - 10, BIG_SIZE - 1],
      ["bytes=1048570-", 1048570, BIG_SIZE - 1],
      ["bytes=1048000-9999999", 1048000, BIG_SIZE - 1],
      ["Bytes=0-0", 0, 0],
      // A suffix longer than the file is the whole file (RFC 9110 §14.1.2).
      ["bytes=-2000000", 0, BIG_SIZE - 1],
      // Overlapping ranges are merged into one.
      ["bytes=0-9,5-19", 0, 19],
    ];
    for (const [range, start, end] of cases) {
      const { response, bytes } = await fetchBytes(url, { headers: { range } });
      assert.equal(response.status, 206, range);
      assert.equal(
        response.headers.get("content-range"),
        `bytes ${start}-${end}/${BIG_SIZE}`,
        range,
      );
      assert.equal(
        response.headers.get("content-length"),
        String(end - start + 1),
      );
      assert.deepEqual(bytes, big.subarray(start, end + 1), range);
    }
    for (
      const range of ["bytes=2000000-", "bytes=1048576-1048577", "bytes=-0"]
    ) {
      const response = await fetch(url, { headers: { range } });
      await response.body?.cancel();
      assert.equal(response.status, 416, range);
      assert.equal(
        response.headers.get("content-range"),
        `bytes */${BIG_SIZE}`,
      );
    }
    const empty = await fetch(`${base}/media/empty.txt`, {
      headers: { range: "bytes=0-" },
    });
    await empty.body?.cancel();
    assert.equal(empty.status, 416);
    assert.equal(empty.headers.get("content-range"), "bytes */0");
  });
});

Deno.test("ranges: malformed headers and other units are ignored: the whole file, 200", async () => {
  await withServer(standardAliases(), async ({ base }) => {
    for (const range of ["bytes=abc", "items=0-1", "bytes", "0-1"]) {
      const { response, bytes } = await fetchBytes(`${base}/media/big.bin`, {
        headers: { range },
      });
      assert.equal(response.status, 200, range);
      assert.equal(response.headers.get("content-range"), null);
      assert.equal(bytes.length, BIG_SIZE, range);
    }
  });
});

Deno.test("ranges: several ranges answer multipart/byteranges; too many get the whole file", async () => {
  await withServer(standardAliases(), async ({ base }) => {
    const { response, text } = await fetchText(`${base}/media/digits.txt`, {
      headers: { range: "bytes=0-1,5-6,-2" },
    });
    assert.equal(response.status, 206);
    const type = response.headers.get("content-type")!;
    const boundary = /^multipart\/byteranges; boundary=(\S+)$/.exec(type)?.[1];
    assert.ok(boundary, type);
    const part = (range: string, data: string) =>
      `\r\n--${boundary}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-range: bytes ${range}/20\r\n\r\n${data}`;
    assert.equal(
      text,
      part("0-1", "01") + part("5-6", "56") + part("18-19", "ij") +
        `\r\n--${boundary}--\r\n`,
    );
    assert.equal(response.headers.get("content-length"), String(text.length));

    const big2 = await fetchBytes(`${base}/media/big.bin`, {
      headers: { range: "bytes=0-99999,500000-699999" },
    });
    assert.equal(big2.response.status, 206);
    const latin = latin1.decode(big2.bytes);
    const firstData = latin.indexOf("\r\n\r\n") + 4;
    assert.deepEqual(
      big2.bytes.subarray(firstData, firstData + 100000),
      big.subarray(0, 100000),
    );
    const secondData = latin.indexOf("\r\n\r\n", firstData + 100000) + 4;
    assert.deepEqual(
      big2.bytes.subarray(secondData, secondData + 200000),
      big.subarray(500000, 700000),
    );

    const many = Array.from({ length: 100 }, (_, i) => `${i * 2}-${i * 2}`);
    const refused = await fetchBytes(`${base}/media/big.bin`, {
      headers: { range: `bytes=${many.join(",")}` },
    });
    assert.equal(refused.response.status, 200);
    assert.equal(refused.bytes.length, BIG_SIZE);
  });
});

// ---------------------------------------------------- conditional requests

Deno.test("conditionals: If-None-Match and If-Modified-Since answer 304 with the validators", async () => {
  await withServer(standardAliases(), async ({ base }) => {
    const url = `${base}/media/site.css`;
    const first = await fetch(url);
    await first.body?.cancel();
    const etag = first.headers.get("etag")!;
    const lastModified = first.headers.get("last-modified")!;
    const earlier = new Date(Date.parse(lastModified) - 60_000).toUTCString();
    const cases: [Record<string, string>, number][] = [
      [{ "if-none-match": etag }, 304],
      [{ "if-none-match": `W/${etag}` }, 304],
      [{ "if-none-match": `"other", ${etag}` }, 304],
      [{ "if-none-match": "*" }, 304],
      [{ "if-none-match": '"other"' }, 200],
      [{ "if-modified-since": lastModified }, 304],
      [{ "if-modified-since": earlier }, 200],
      [{ "if-modified-since": "not a date" }, 200],
      // If-None-Match decides when both are sent.
      [{ "if-none-match": '"other"', "if-modified-since": lastModified }, 200],
    ];
    for (const [headers, status] of cases) {
      const response = await fetch(url, { headers });
      const body = await response.text();
      assert.equal(response.status, status, JSON.stringify(headers));
      if (status === 304) {
        assert.equal(body, "");
        assert.equal(response.headers.get("etag"), etag);
        assert.equal(response.headers.get("cache-control"), "max-age=60");
      } else {
        assert.equal(body, CSS);
      }
    }
  });
});

Deno.test("conditionals: If-Match and If-Unmodified-Since answer 412 when the file differs", async () => {
  await withServer(standardAliases(), async ({ base }) => {
    const url = `${base}/media/site.css`;
    const first = await fetch(url);
    await first.body?.cancel();
    const etag = first.headers.get("etag")!;
    const lastModified = first.headers.get("last-modified")!;
    const earlier = new Date(Date.parse(lastModified) - 60_000).toUTCString();
    const cases: [Record<string, string>, number][] = [
      [{ "if-match": etag }, 200],
      [{ "if-match": "*" }, 200],
      [{ "if-match": '"other"' }, 412],
      [{ "if-match": `W/${etag}` }, 412],
      [{ "if-unmodified-since": lastModified }, 200],
      [{ "if-unmodified-since": earlier }, 412],
    ];
    for (const [headers, status] of cases) {
      const response = await fetch(url, { headers });
      await response.body?.cancel();
      assert.equal(response.status, status, JSON.stringify(headers));
    }
  });
});

Deno.test("conditionals: If-Range keeps the range only while the validator matches exactly", async () => {
  await withServer(standardAliases(), async ({ base }) => {
    const url = `${base}/media/old.txt`;
    const first = await fetch(url);
    await first.body?.cancel();
    const etag = first.headers.get("etag")!;
    assert.equal(first.headers.get("last-modified"), OLD_MTIME.toUTCString());
    const cases: [string, number][] = [
      [etag, 206],
      ['"stale"', 200],
      [`W/${etag}`, 200],
      [OLD_MTIME.toUTCString(), 206],
      [new Date(OLD_MTIME.getTime() + 60_000).toUTCString(), 200],
    ];
    for (const [ifRange, status] of cases) {
      const { response, text } = await fetchText(url, {
        headers: { range: "bytes=0-1", "if-range": ifRange },
      });
      assert.equal(response.status, status, ifRange);
      assert.equal(text, status === 206 ? "ol" : "old\n");
    }
  });
});

// ----------------------------------------------------------------- folders

Deno.test("folders: the index file, a redirect adding the slash, 403 without an index", async () => {
  await withServer(standardAliases(), async ({ base, port }) => {
    const index = await fetchText(`${base}/media/sub/`);
    assert.equal(index.response.status, 200);
    assert.equal(index.text, "<h1>sub index</h1>\n");
    assert.equal(
      index.response.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    for (
      const [path, location] of [
        ["/media/sub?x=1&y=2", "/media/sub/?x=1&y=2"],
        ["/media", "/media/"],
        ["/medi%61/sub", "/media/sub/"],
      ]
    ) {
      const response = await fetch(`${base}${path}`, { redirect: "manual" });
      await response.body?.cancel();
      assert.equal(response.status, 301, path);
      assert.equal(response.headers.get("location"), location, path);
    }
    const bare = await fetch(`${base}/media/bare/`);
    await bare.body?.cancel();
    assert.equal(bare.status, 403, "listings are off by default");
    const fileWithSlash = await rawRequest(port, "GET", "/media/site.css/");
    assert.equal(fileWithSlash.status, 404);
  });
  await withServer(
    [createAlias("/media/", media, { index: false })],
    async ({ base }) => {
      const response = await fetch(`${base}/media/sub/`);
      await response.body?.cancel();
      assert.equal(response.status, 403, "index: false serves no index");
    },
  );
});

Deno.test("folders: a redirect never starts with '//', which would name another host", async () => {
  await withServer([createAlias("/", media)], async ({ port }) => {
    const response = await rawRequest(port, "GET", "//evil.com");
    assert.equal(response.status, 301);
    assert.equal(response.headers.get("location"), "/evil.com/");
  });
});

Deno.test("folders: listings only when asked, names HTML-escaped, links encoded, dotfiles hidden unless asked", async () => {
  await withServer([
    createAlias("/list/", media, { listDirectories: true }),
    createAlias("/all/", media, { listDirectories: true, dotfiles: true }),
    createAlias("/noindex/", media, { listDirectories: true, index: false }),
  ], async ({ base }) => {
    const { response, text } = await fetchText(`${base}/list/bare/`);
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    assert.ok(
      text.includes(
        `<a href="./a%20%3Cb%3E%26&#39;%22.txt">a &#60;b&#62;&#38;&#39;&#34;.txt</a>`,
      ),
      text,
    );
    assert.ok(!text.includes("<b>"), "no raw markup from a file name");
    assert.ok(text.includes(`<a href="./nested/">nested/</a>`));
    assert.ok(text.includes(`<a href="../">../</a>`));
    assert.ok(!text.includes(".secret"), "dotfiles stay hidden");
    assert.ok(text.includes("<title>Index of /list/bare/</title>"));

    const all = await fetchText(`${base}/all/bare/`);
    assert.ok(all.text.includes(`<a href="./.secret">.secret</a>`));

    const top = await fetchText(`${base}/list/`);
    assert.ok(!top.text.includes(`href="../"`), "no parent above the root");

    const noIndex = await fetchText(`${base}/noindex/sub/`);
    assert.ok(noIndex.text.includes(`<a href="./index.html">index.html</a>`));
  });
});

// ---------------------------------------------------------------- security

/**
 * Asks for each path over raw TCP and expects `status` and nothing leaked.
 * Traversals are tried with dotfiles allowed as well, so that refusing
 * names that start with "." is not what stops a "..".
 */
async function assertRefused(
  paths: string[],
  status: number,
  { alsoWithDotfiles = true } = {},
): Promise<void> {
  const setups = [standardAliases()];
  if (alsoWithDotfiles) {
    setups.push([createAlias("/media/", media, { dotfiles: true })]);
  }
  for (const aliases of setups) {
    await withServer(aliases, async ({ port }) => {
      for (const path of paths) {
        const response = await rawRequest(port, "GET", path);
        assert.equal(response.status, status, `${path}: ${response.text}`);
        for (
          const secret of ["SECRET", "root:x", "secret", "[core]", "hidden"]
        ) {
          assert.ok(
            !response.text.includes(secret),
            `${path} leaked ${secret}`,
          );
        }
      }
    });
  }
}

Deno.test("security: '..' segments are refused", async () => {
  await assertRefused([
    "/media/../app-source.py",
    "/media/sub/../../app-source.py",
    "/media/./../app-source.py",
    "/media/..",
  ], 404);
});

Deno.test("security: percent-encoded '%2e%2e' segments are refused", async () => {
  await assertRefused([
    "/media/%2e%2e/app-source.py",
    "/media/%2E%2E/%2e%2e/etc/passwd",
    "/media/.%2e/app-source.py",
    "/media/%2e./app-source.py",
    "/media/sub/%2e%2e/%2e%2e/app-source.py",
  ], 404);
});

Deno.test("security: encoded slashes '%2f' are refused", async () => {
  await assertRefused([
    "/media/..%2fapp-source.py",
    "/media/..%2F..%2Fapp-source.py",
    "/media/sub%2f..%2f..%2fapp-source.py",
    "/media/%2fetc%2fpasswd",
    "/media/sub%2Findex.html",
  ], 404);
});

Deno.test("security: backslashes, encoded '%5c' or raw, are refused", async () => {
  await assertRefused([
    "/media/..%5capp-source.py",
    "/media/%5c..%5capp-source.py",
    "/media/sub%5Cindex.html",
    "/media/sub\\index.html",
    "/media/..\\app-source.py",
  ], 404);
});

Deno.test("security: NUL bytes '%00' are refused", async () => {
  await assertRefused([
    "/media/site.css%00",
    "/media/site.css%00.txt",
    "/media/%00/site.css",
  ], 404);
});

Deno.test("security: malformed escapes answer 400", async () => {
  await assertRefused(["/media/%zz", "/media/%ff.css", "/media/%"], 400);
});

Deno.test("security: symlinks leading out of the root are refused; those inside work", async () => {
  await assertRefused([
    "/media/escape.txt",
    "/media/escape-dir/passwd",
    "/media/via-inside/passwd",
    "/media/sub/../escape.txt",
  ], 404);
  await withServer(standardAliases(), async ({ base }) => {
    const inside = await fetchText(`${base}/media/inside-link.css`);
    assert.equal(inside.response.status, 200);
    assert.equal(inside.text, CSS, "symlinks inside the root are served");
    const folderLink = await fetchText(`${base}/media/sub-link/index.html`);
    assert.equal(folderLink.text, "<h1>sub index</h1>\n");
  });
});

Deno.test("security: dotfiles and dot-folders answer 404 unless dotfiles is set", async () => {
  const dotPaths = [
    "/media/.secret",
    "/media/%2esecret",
    "/media/.git/config",
    "/media/sub/.hidden",
  ];
  await assertRefused(dotPaths, 404, { alsoWithDotfiles: false });
  await withServer(
    [createAlias("/media/", media, { dotfiles: true })],
    async ({ base }) => {
      const served = await fetchText(`${base}/media/.secret`);
      assert.equal(served.response.status, 200);
      assert.equal(served.text, "dot secret\n");
    },
  );
});

Deno.test("security: folder listings are off unless asked for", async () => {
  await assertRefused(["/media/bare/", "/media/"], 403, {
    alsoWithDotfiles: false,
  });
});

// --------------------------------- through alias() and mountWsgi() (Python)

// Pyodide's worker keeps timers and resources of its own between tests.
const withPython = { sanitizeOps: false, sanitizeResources: false };
const conformanceApp = new URL("./apps/conformance.wsgi", import.meta.url)
  .pathname;

Deno.test({
  name:
    "alias(): aliases win over an app at '/' whatever the order, and Python never sees their requests",
  ...withPython,
  fn: async () => {
    const group = defineGroup("aliases-precedence", { processes: 0 });
    // Both mounts share one interpreter: one Pyodide start instead of two.
    const applicationGroup = "aliases-precedence";
    const mountFirst = new Hono();
    mountWsgi(mountFirst, "/", conformanceApp, { group, applicationGroup });
    alias(mountFirst, "/robots.txt", `${site}/robots.txt`);
    alias(mountFirst, "/media/", `${media}/`);
    const aliasFirst = createRouter();
    alias(aliasFirst, "/robots.txt", `${site}/robots.txt`);
    alias(aliasFirst, "/media/", `${media}/`);
    mountWsgi(aliasFirst, "/", conformanceApp, { group, applicationGroup });
    await group.ready();
    const servers = [mountFirst, aliasFirst].map((router) =>
      Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        router.fetch,
      )
    );
    try {
      for (const server of servers) {
        const base = `http://127.0.0.1:${server.addr.port}`;
        const served = async () =>
          Number((await fetchText(`${base}/served`)).text);
        const before = await served();
        const robots = await fetchText(`${base}/robots.txt`);
        assert.equal(robots.text, "User-agent: *\nDisallow:\n");
        const css = await fetchText(`${base}/media/site.css`);
        assert.equal(css.text, CSS);
        const big = await fetchBytes(`${base}/media/big.bin`, {
          headers: { range: "bytes=0-9" },
        });
        assert.equal(big.response.status, 206);
        const dotfile = await fetch(`${base}/media/.secret`);
        await dotfile.body?.cancel();
        assert.equal(dotfile.status, 404);
        // Only the counting request itself reached Python.
        assert.equal(await served(), before + 1);
        const app = await fetchText(`${base}/app-source.py`);
        assert.equal(app.text, "path /app-source.py", "the app, not a file");
        const mediax = await fetchText(`${base}/mediax/site.css`);
        assert.equal(mediax.text, "path /mediax/site.css");
      }
    } finally {
      await Promise.all(servers.map((server) => server.shutdown()));
      await group.shutdown();
    }
  },
});

// ------------------------------------------------------------------ cleanup

Deno.test("aliases: remove the fixtures", async () => {
  await Deno.remove(site, { recursive: true });
  await Deno.remove(outside, { recursive: true });
});
