/**
 * Micro-benchmarks of the pure functions every request goes through
 * (`Deno.bench`): the environ's CGI variables and their packing, the pipe
 * frames of a child-process worker, and the packed response head.
 *
 * Run: npx -y deno@2.9.6 task --cwd bench micro
 *
 * @module
 */

import { buildCgiVariables, packEnviron } from "../src/environ.ts";
import { parseTarget } from "../src/url_path.ts";
import { encodeFrame, readFrames } from "../src/frames.ts";
import { unpackHead } from "../src/protocol.ts";

const URL_ = "http://127.0.0.1:8000/app/api/items?page=2&sort=name";
const HEADERS = {
  host: "127.0.0.1:8000",
  "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101",
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  "accept-language": "en-US,en;q=0.5",
  "accept-encoding": "gzip, deflate, br",
  cookie: "session=eyJ2aXNpdHMiOjN9.Z1x2Yw.abcdefghijklmnopqrstuvwxyz",
  connection: "keep-alive",
};
const REQUEST = new Request(URL_, { headers: HEADERS });
const TARGET = parseTarget(URL_);
const INFO = { remoteAddr: { hostname: "127.0.0.1", port: 50000 } };
const cgi = () =>
  buildCgiVariables(
    REQUEST,
    TARGET,
    "/api/items",
    { scriptName: "/app" },
    INFO,
  );
const VARIABLES = cgi();

Deno.bench("buildCgiVariables: a browser's GET", { group: "environ" }, () => {
  cgi();
});

Deno.bench("packEnviron: its variables", { group: "environ" }, () => {
  packEnviron(VARIABLES);
});

const SMALL = { t: "request", id: 7, environ: packEnviron(VARIABLES) };
const LARGE = { t: "chunk", id: 7, chunk: new Uint8Array(256 * 1024) };

Deno.bench("encodeFrame: a request message", { group: "frames" }, () => {
  encodeFrame(SMALL);
});

Deno.bench("encodeFrame: a 256 KiB chunk", { group: "frames" }, () => {
  encodeFrame(LARGE);
});

const FRAMES = [encodeFrame(SMALL), encodeFrame(LARGE), encodeFrame(SMALL)];

Deno.bench("readFrames: three frames", { group: "frames" }, async () => {
  const stream = ReadableStream.from(FRAMES);
  for await (const _ of readFrames(stream)) {
    // decoding is the work
  }
});

/** What python/wsgi_bridge.py's _pack_head makes of a Flask JSON answer. */
const FIELDS = "200 OK\0Content-Type\0application/json\0Content-Length\0" +
  "67\0Vary\0Cookie";
const HEAD = `${FIELDS.length + 1}:1${FIELDS}` +
  '{"count":4,"items":["a","b","c","d"],"link":"/app/api/items"}\n';

Deno.bench("unpackHead: a JSON answer, body inline", { group: "head" }, () => {
  unpackHead(HEAD, true);
});
