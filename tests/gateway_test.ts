/**
 * PEP 3333 conformance of the bridge, over real HTTP on loopback, against
 * the real Pyodide: once with a Web Worker group and once embedded.
 */

import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  createRouter,
  defineGroup,
  mountWsgi,
  type ProcessGroup,
} from "../mod.ts";
import {
  appPath,
  chunkArrivals,
  collectLogs,
  rawRequest,
  serve,
  type TestServer,
  waitFor,
} from "./helpers.ts";

const logs = collectLogs();
const options = { sanitizeOps: false, sanitizeResources: false };
const conformance = appPath("conformance.wsgi");

interface Setup {
  server: TestServer;
  group: ProcessGroup;
}

const setups = new Map<string, Promise<Setup>>();

function setup(mode: "workers" | "embedded"): Promise<Setup> {
  let ready = setups.get(mode);
  if (!ready) {
    ready = (async () => {
      const group = defineGroup(`gateway-${mode}`, {
        processes: mode === "workers" ? 1 : 0,
      });
      const router = createRouter();
      mountWsgi(router, "/app", conformance, {
        group,
        environ: { MYTEST: "abc" },
      });
      mountWsgi(router, "/valid", conformance, {
        group,
        callable: "validated",
        passAuthorization: true,
      });
      await group.ready();
      return { server: serve(router.fetch), group };
    })();
    setups.set(mode, ready);
  }
  return ready;
}

async function json(response: Response): Promise<Record<string, unknown>> {
  assert.equal(response.status, 200, "environ request failed");
  return await response.json();
}

const text = (bytes: Uint8Array) => new TextDecoder("latin1").decode(bytes);

for (const mode of ["workers", "embedded"] as const) {
  const test = (name: string, fn: (s: Setup) => Promise<void>) =>
    Deno.test({
      name: `${mode}: ${name}`,
      ...options,
      fn: async () => fn(await setup(mode)),
    });

  for (const mount of ["/app", "/valid"]) {
    test(`${mount}: environ has the CGI and wsgi keys`, async ({ server }) => {
      const env = await json(
        await fetch(`${server.base}${mount}/environ?a=1&b=%20c`, {
          headers: { "X-Custom": "yes" },
        }),
      );
      assert.equal(env.REQUEST_METHOD, "GET");
      assert.equal(env.SCRIPT_NAME, mount);
      assert.equal(env.PATH_INFO, "/environ");
      assert.equal(env.QUERY_STRING, "a=1&b=%20c");
      assert.equal(env.REQUEST_URI, `${mount}/environ?a=1&b=%20c`);
      assert.equal(env.SERVER_NAME, "127.0.0.1");
      assert.equal(env.SERVER_PORT, String(server.port));
      assert.equal(env.SERVER_PROTOCOL, "HTTP/1.1");
      assert.equal(env.REMOTE_ADDR, "127.0.0.1");
      assert.match(String(env.REMOTE_PORT), /^\d+$/);
      assert.notEqual(env.REMOTE_PORT, String(server.port));
      assert.equal(env["wsgi.url_scheme"], "http");
      assert.deepEqual(env["wsgi.version"], [1, 0]);
      assert.equal(env["wsgi.multithread"], false);
      assert.equal(env["wsgi.multiprocess"], false);
      assert.equal(env["wsgi.run_once"], false);
      assert.equal(env["wsgi.input_terminated"], true);
      assert.match(String(env["wsgi.file_wrapper"]), /FileWrapper/);
      assert.match(String(env["wsgi.input"]), /./);
      assert.match(String(env["wsgi.errors"]), /./);
      assert.equal(env["mod_wsgi.process_group"], `gateway-${mode}`);
      assert.equal(
        env["mod_wsgi.application_group"],
        `127.0.0.1:${server.port}|${mount}`,
      );
      assert.equal(env.HTTP_X_CUSTOM, "yes");
      assert.equal(env.HTTP_HOST, `127.0.0.1:${server.port}`);
      assert.equal(env.CONTENT_TYPE, undefined);
    });
  }

  test("POST sets CONTENT_TYPE and CONTENT_LENGTH without HTTP_ copies", async ({ server }) => {
    const env = await json(
      await fetch(`${server.base}/app/environ`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "a=1",
      }),
    );
    assert.equal(env.CONTENT_TYPE, "application/x-www-form-urlencoded");
    assert.equal(env.CONTENT_LENGTH, "3");
    assert.equal(env.HTTP_CONTENT_TYPE, undefined);
    assert.equal(env.HTTP_CONTENT_LENGTH, undefined);
  });

  test("Authorization reaches the app only with passAuthorization; environ adds keys", async ({ server }) => {
    const headers = { authorization: "Basic dXNlcjpwYXNz" };
    const hidden = await json(
      await fetch(`${server.base}/app/environ`, { headers }),
    );
    assert.equal(hidden.HTTP_AUTHORIZATION, undefined);
    assert.equal(hidden.MYTEST, "abc");
    const passed = await json(
      await fetch(`${server.base}/valid/environ`, { headers }),
    );
    assert.equal(passed.HTTP_AUTHORIZATION, "Basic dXNlcjpwYXNz");
    assert.equal(passed.MYTEST, undefined);
  });

  test("repeated headers join with ', ', cookies with '; ', '_' names dropped", async ({ server }) => {
    const response = await rawRequest(
      server.port,
      "GET /app/environ HTTP/1.1",
      [
        "X-Multi: one",
        "X-Multi: two",
        "Cookie: a=1",
        "Cookie: b=2",
        "X_Forwarded_For: 6.6.6.6",
        "X-Forwarded-For: 10.0.0.1",
      ],
    );
    assert.equal(response.status, 200);
    const env = JSON.parse(text(response.body));
    assert.equal(env.HTTP_X_MULTI, "one, two");
    assert.equal(env.HTTP_COOKIE, "a=1; b=2");
    assert.equal(env.HTTP_X_FORWARDED_FOR, "10.0.0.1");
    for (const key of Object.keys(env)) {
      assert.ok(
        !String(env[key]).includes("6.6.6.6"),
        `${key} leaked the _ header`,
      );
    }
  });

  test("PATH_INFO is percent-decoded bytes as latin-1", async ({ server }) => {
    const response = await rawRequest(
      server.port,
      "GET /app/environ/%FF/caf%C3%A9/a%20b?x=%FF HTTP/1.1",
    );
    const env = JSON.parse(text(response.body));
    assert.equal(env.PATH_INFO, "/environ/\u00ff/caf\u00c3\u00a9/a b");
    assert.equal(env.QUERY_STRING, "x=%FF");
    assert.equal(env.REQUEST_URI, "/app/environ/%FF/caf%C3%A9/a%20b?x=%FF");
  });

  test("dot segments are resolved before routing, encoded slashes refused", async ({ server }) => {
    const dotted = await rawRequest(
      server.port,
      "GET /other/../app/environ/x/%2e%2e/y HTTP/1.1",
    );
    assert.equal(dotted.status, 200);
    assert.equal(JSON.parse(text(dotted.body)).PATH_INFO, "/environ/y");
    const above = await rawRequest(
      server.port,
      "GET /app/../../etc/passwd HTTP/1.1",
    );
    assert.equal(above.status, 400);
    const slash = await rawRequest(
      server.port,
      "GET /app/environ%2Fx HTTP/1.1",
    );
    assert.equal(slash.status, 404);
  });

  test("the prefix matches whole segments only", async ({ server }) => {
    const bare = await fetch(`${server.base}/app`);
    assert.equal(await bare.text(), "path ");
    const slash = await fetch(`${server.base}/app/`);
    assert.equal(await slash.text(), "path /");
    const other = await fetch(`${server.base}/appx/environ`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
  });

  for (
    const [modeName, expected] of [
      ["read", "line one\nline two\nline three"],
      ["readall", "line one\nline two\nline three"],
      ["readline", "line one\n|line two\n|line three"],
      ["readlines", "line one\n|line two\n|line three"],
      ["iter", "line one\n|line two\n|line three"],
    ]
  ) {
    test(`wsgi.input ${modeName}`, async ({ server }) => {
      const mount = modeName === "readall" ? "/app" : "/valid";
      const response = await fetch(
        `${server.base}${mount}/echo?mode=${modeName}`,
        {
          method: "POST",
          body: "line one\nline two\nline three",
        },
      );
      assert.equal(await response.text(), expected);
    });
  }

  test("chunked request bodies are read", async ({ server }) => {
    const body = new TextEncoder().encode(
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    const response = await rawRequest(
      server.port,
      "POST /app/echo?mode=readall HTTP/1.1",
      ["Transfer-Encoding: chunked"],
      body,
    );
    assert.equal(response.status, 200);
    assert.equal(text(response.body), "hello world");
  });

  test("a large streamed upload arrives whole", async ({ server }) => {
    const size = 3 * 1024 * 1024 + 7;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        let left = size;
        while (left > 0) {
          const n = Math.min(left, 65536);
          controller.enqueue(new Uint8Array(n).fill(120));
          left -= n;
        }
        controller.close();
      },
    });
    const response = await fetch(`${server.base}/app/echo?mode=size`, {
      method: "POST",
      body: stream,
    });
    assert.equal(await response.text(), String(size));
    const sized = await fetch(`${server.base}/valid/echo?mode=read`, {
      method: "POST",
      body: new Uint8Array(size).fill(121),
    });
    const echoed = new Uint8Array(await sized.arrayBuffer());
    assert.equal(echoed.length, size);
    assert.ok(echoed.every((b) => b === 121));
  });

  test("write() output comes before the iterable", async ({ server }) => {
    for (const mount of ["/app", "/valid"]) {
      const response = await fetch(`${server.base}${mount}/write`);
      assert.equal(await response.text(), "first;second;iterable");
    }
  });

  test("start_response rejects bad status and headers with a logged 500", async ({ server }) => {
    // A first answer with Content-Type, which the bridge then remembers.
    const primed = await fetch(`${server.base}/app/write`);
    assert.equal(await primed.text(), "first;second;iterable");
    for (
      const [path, clue] of [
        ["bad-status", "three-digit code"],
        ["bad-header", "must both be str"],
        ["injection", "control character"],
        // Content-Type passed the checks on earlier requests: the names the
        // bridge remembers still have their values checked every time.
        ["injection-known", "control character"],
        ["not-latin-known", "not latin-1"],
        ["twice", "second time without exc_info"],
      ]
    ) {
      const before = logs.entries.length;
      const response = await fetch(`${server.base}/app/${path}`);
      assert.equal(response.status, 500, path);
      const body = await response.text();
      assert.ok(!body.includes("Traceback"), "traceback leaked into the body");
      assert.ok(!body.includes("never"));
      const logged = logs.entries.slice(before).map((e) => e.message).join(
        "\n",
      );
      assert.match(logged, new RegExp(clue), path);
      assert.match(logged, /Traceback/);
    }
  });

  test("start_response with exc_info replaces the status before output", async ({ server }) => {
    const response = await fetch(`${server.base}/app/exc-info`);
    assert.equal(response.status, 503);
    assert.equal(await response.text(), "replaced");
  });

  test("an exception before output is a 500 with the traceback in the log only", async ({ server }) => {
    const before = logs.entries.length;
    const response = await fetch(`${server.base}/app/error-before`);
    assert.equal(response.status, 500);
    const body = await response.text();
    assert.ok(body.length < 100 && !body.includes("boom"));
    const entry = logs.entries.slice(before).find((e) =>
      e.message.includes("boom before output")
    );
    assert.ok(entry, "traceback not logged");
    assert.equal(entry.level, "error");
    assert.equal(entry.mount, "/app");
    assert.match(entry.message, /Traceback \(most recent call last\)/);
    const after = await fetch(`${server.base}/app/hello`);
    assert.equal(await after.text(), "path /hello");
  });

  test("an exception after output cuts the response short and is logged", async ({ server }) => {
    const before = logs.entries.length;
    const response = await rawRequest(
      server.port,
      "GET /app/error-after HTTP/1.1",
    );
    assert.equal(response.status, 200);
    assert.ok(text(response.body).startsWith("partial"));
    // A complete chunked body ends with a zero-size chunk; this one must not.
    assert.ok(!response.head.includes("content-length"));
    await waitFor(() =>
      logs.entries.slice(before).some((e) =>
        e.message.includes("boom after output")
      )
    );
    const after = await fetch(`${server.base}/app/hello`);
    assert.equal(await after.text(), "path /hello");
  });

  test("a str body item is a logged 500", async ({ server }) => {
    const before = logs.entries.length;
    const response = await fetch(`${server.base}/app/str-body`);
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.ok(
      logs.entries.slice(before).some((e) =>
        e.message.includes("must be bytes")
      ),
    );
  });

  test("print() and wsgi.errors go to the log with the mount", async ({ server }) => {
    const before = logs.entries.length;
    const response = await fetch(`${server.base}/app/print`);
    assert.equal(await response.text(), "logged");
    await waitFor(() => logs.entries.length >= before + 2, 2000, "log lines");
    const fresh = logs.entries.slice(before);
    const printed = fresh.find((e) =>
      e.message.includes("printed by the app for GET")
    );
    const written = fresh.find((e) =>
      e.message.includes("written to wsgi.errors")
    );
    assert.ok(printed && written, logs.text());
    assert.equal(printed.mount, "/app");
    assert.equal(written.mount, "/app");
  });

  test("HEAD reaches the app as HEAD and the body is dropped", async ({ server }) => {
    const before = logs.entries.length;
    const response = await rawRequest(server.port, "HEAD /app/print HTTP/1.1");
    assert.equal(response.status, 200);
    assert.equal(response.body.length, 0);
    assert.ok(
      response.headers.some(([n, v]) => n === "content-length" && v === "6"),
    );
    await waitFor(() =>
      logs.entries.slice(before).some((e) =>
        e.message.includes("printed by the app for HEAD")
      )
    );
    const validated = await fetch(`${server.base}/valid/stream?n=2`, {
      method: "HEAD",
    });
    assert.equal(validated.status, 200);
    assert.equal((await validated.arrayBuffer()).byteLength, 0);
  });

  test("repeated and Set-Cookie headers stay separate lines; latin-1 is byte-exact", async ({ server }) => {
    for (const mount of ["/app", "/valid"]) {
      const response = await rawRequest(
        server.port,
        `GET ${mount}/headers HTTP/1.1`,
      );
      const names = response.headers.map(([n]) => n);
      assert.equal(names.filter((n) => n === "set-cookie").length, 2);
      assert.equal(names.filter((n) => n === "x-repeat").length, 2);
      assert.ok(
        response.head.includes("X-Latin: caf\u00e9 \u00ff"),
        response.head,
      );
    }
  });

  test("the status code reaches the client", async ({ server }) => {
    // Deno.serve always sends the standard reason phrase (see README).
    const response = await rawRequest(
      server.port,
      "GET /app/status?code=418 HTTP/1.1",
    );
    assert.equal(response.status, 418);
    const created = await rawRequest(
      server.port,
      "GET /app/status?code=201 HTTP/1.1",
    );
    assert.equal(created.status, 201);
    assert.equal(text(created.body), "status");
  });

  test("output stops at the declared Content-Length and close() is called", async ({ server }) => {
    const count = async () =>
      Number(await (await fetch(`${server.base}/app/closed`)).text());
    const before = await count();
    for (const mount of ["/app", "/valid"]) {
      const response = await rawRequest(
        server.port,
        `GET ${mount}/overlong HTTP/1.1`,
      );
      assert.equal(text(response.body), "hello");
    }
    // /valid runs in an interpreter of its own: only /app's close counts.
    assert.equal(await count(), before + 1);
  });

  test("a large first chunk arrives byte-exact, whole, trimmed or streamed, and is let go", async ({ server }) => {
    const large = new Uint8Array(1 << 20).map((_, i) => i % 256);
    const references = async () =>
      await (await fetch(`${server.base}/app/large-references`)).text();
    const before = await references();
    for (let round = 0; round < 3; round++) {
      const whole = await fetch(`${server.base}/app/large`);
      assert.equal(whole.headers.get("content-length"), String(1 << 20));
      assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), large);
      const trimmed = await fetch(`${server.base}/app/large?mode=overlong`);
      assert.deepEqual(
        new Uint8Array(await trimmed.arrayBuffer()),
        large.subarray(0, 100000),
      );
      const streamed = await fetch(`${server.base}/app/large?mode=stream`);
      const bytes = new Uint8Array(await streamed.arrayBuffer());
      assert.deepEqual(bytes.subarray(0, 1 << 20), large);
      assert.equal(text(bytes.subarray(1 << 20)), "end");
      const head = await fetch(`${server.base}/app/large`, { method: "HEAD" });
      assert.equal(head.headers.get("content-length"), String(1 << 20));
      assert.equal((await head.arrayBuffer()).byteLength, 0);
    }
    // Twelve answers later, nothing still holds the body in Python.
    assert.equal(await references(), before);
  });

  test("wsgi.file_wrapper streams a file-like object", async ({ server }) => {
    const response = await fetch(`${server.base}/app/file`);
    const body = await response.text();
    assert.equal(body.length, 100000);
    assert.equal(body, "0123456789".repeat(10000));
  });

  test("a slow generator's first chunk arrives before it finishes", async ({ server }) => {
    for (const mount of ["/app", "/valid"]) {
      const { arrivals } = await chunkArrivals(
        `${server.base}${mount}/stream?n=4&delay=0.4`,
      );
      const all = arrivals.map((arrival) => arrival.text).join("");
      assert.equal(all, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
      assert.ok(arrivals[0].text.startsWith("chunk 0\n"));
      const firstAt = arrivals[0].at;
      const total = arrivals[arrivals.length - 1].at;
      assert.ok(total >= 1500, `total ${total}`);
      assert.ok(
        firstAt < total - 350,
        `first chunk at ${firstAt} ms of ${total} ms`,
      );
    }
  });

  test("server-sent events arrive one by one", async ({ server }) => {
    const { contentType, arrivals } = await chunkArrivals(
      `${server.base}/app/sse`,
    );
    assert.equal(contentType, "text/event-stream");
    const all = arrivals.map((arrival) => arrival.text).join("");
    assert.equal(all, "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n");
    const times = arrivals.map((arrival) => arrival.at);
    assert.ok(
      times[0] < times[times.length - 1] - 300,
      `arrival times ${times}`,
    );
  });

  test("close() is called after a full response and on early disconnect", async ({ server }) => {
    const count = async () =>
      Number(await (await fetch(`${server.base}/app/closed`)).text());
    const before = await count();
    await (await fetch(`${server.base}/app/stream?n=2`)).text();
    assert.equal(await count(), before + 1);
    const response = await fetch(`${server.base}/app/stream?n=40&delay=0.05`);
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    await waitFor(
      async () => (await count()) === before + 2,
      5000,
      "close() after disconnect",
    );
  });
}

Deno.test({
  name: "Hono: TypeScript routes beside a mount, as in the README",
  ...options,
  fn: async () => {
    const group = defineGroup("gateway-hono", { processes: 0 });
    const app = new Hono();
    app.get("/api/ping", (c) => c.text("pong"));
    const mount = mountWsgi(
      app,
      "/myapp",
      new URL("../examples/hello/app.wsgi", import.meta.url).pathname,
      { group },
    );
    const root = defineGroup("gateway-root", { processes: 0 });
    const rootApp = new Hono();
    rootApp.get("/api/ping", (c) => c.text("pong"));
    mountWsgi(rootApp, "/", conformance, { group: root });
    await mount.ready();
    await root.ready();
    const server = serve(app.fetch);
    const rootServer = serve(rootApp.fetch);
    try {
      assert.equal(
        await (await fetch(`${server.base}/api/ping`)).text(),
        "pong",
      );
      const hello = await fetch(`${server.base}/myapp/`);
      assert.equal(hello.status, 200);
      assert.equal(await hello.text(), "Hello World!");
      const elsewhere = await fetch(`${server.base}/myappx`);
      assert.equal(elsewhere.status, 404);
      await elsewhere.body?.cancel();
      const env = await json(await fetch(`${rootServer.base}/environ/x`));
      assert.equal(env.SCRIPT_NAME, "");
      assert.equal(env.PATH_INFO, "/environ/x");
      assert.equal(
        await (await fetch(`${rootServer.base}/api/ping`)).text(),
        "pong",
      );
    } finally {
      await server.close();
      await rootServer.close();
      await group.shutdown();
      await root.shutdown();
    }
  },
});

Deno.test({
  name: "mountWsgi: a missing script or bad option fails at once with its name",
  ...options,
  fn: () => {
    const router = createRouter();
    assert.throws(
      () => mountWsgi(router, "/x", "/no/such/app.wsgi"),
      /\/no\/such\/app\.wsgi cannot be read/,
    );
    assert.throws(
      () => mountWsgi(router, "x", conformance),
      /must be a URL path starting with "\/"/,
    );
    assert.throws(
      () => mountWsgi(router, "/x", conformance, { callable: "1bad" }),
      /option "callable"/,
    );
    assert.throws(
      () => mountWsgi(router, "/x", conformance, { group: "nope" }),
      /defineGroup\("nope"/,
    );
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => mountWsgi(router, "/x", conformance, { colour: 1 } as any),
      /unknown option "colour"/,
    );
    assert.throws(
      () => defineGroup("bad", { processes: -1 }),
      /option "processes"/,
    );
    assert.throws(
      () => defineGroup("bad2", { requestTimeout: "1" as unknown as number }),
      /option "requestTimeout"/,
    );
  },
});

Deno.test({
  name: "mountWsgi: a missing callable is logged with its name and answers 500",
  ...options,
  fn: async () => {
    const group = defineGroup("gateway-missing", { processes: 0 });
    const router = createRouter();
    const before = logs.entries.length;
    mountWsgi(router, "/m", conformance, {
      group,
      callable: "no_such_callable",
    });
    await group.ready();
    const server = serve(router.fetch);
    try {
      const response = await fetch(`${server.base}/m/`);
      assert.equal(response.status, 500);
      await response.body?.cancel();
      const logged = logs.entries.slice(before).map((e) => e.message).join(
        "\n",
      );
      assert.match(logged, /no callable named 'no_such_callable'/);
      assert.match(logged, /conformance\.wsgi/);
    } finally {
      await server.close();
      await group.shutdown();
    }
  },
});

Deno.test({
  name: "shut down the shared servers",
  ...options,
  fn: async () => {
    for (const ready of setups.values()) {
      const { server, group } = await ready;
      await server.close();
      await group.shutdown();
    }
    logs.stop();
  },
});
