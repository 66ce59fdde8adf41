/**
 * `cli.ts from-apache CONF` end to end: the command runs as a subprocess on
 * configurations in tests/apache/own, and is asked over loopback; the port
 * comes from the environment through `${DW_APACHE_PORT}`, as Apache reads
 * environment variables. `--print`'s program is type-checked and run.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("../", import.meta.url));
const own = (name: string) => join(root, "tests/apache/own", name);
/** Pyodide's start on a busy shared machine can take a while. */
const START_LIMIT_MS = 180_000;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

interface Running {
  child: Deno.ChildProcess;
  output: () => string;
  /** Resolves when the output has a line matching `pattern`. */
  waitFor: (pattern: RegExp) => Promise<void>;
}

function start(args: string[], port: number): Running {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { DW_APACHE_PORT: String(port) },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
    }
  };
  pump(child.stdout);
  pump(child.stderr);
  const waitFor = async (pattern: RegExp) => {
    const deadline = Date.now() + START_LIMIT_MS;
    while (!pattern.test(text)) {
      if (Date.now() > deadline) {
        throw new Error(`no ${pattern} within the time limit:\n${text}`);
      }
      await new Promise((done) => setTimeout(done, 100));
    }
  };
  return { child, output: () => text, waitFor };
}

async function stop(running: Running): Promise<number> {
  running.child.kill("SIGTERM");
  return (await running.child.status).code;
}

async function text(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.text() };
}

Deno.test("from-apache serves a daemon process group, Alias and SetEnv", async () => {
  const port = freePort();
  const server = start(
    ["run", "-A", "cli.ts", "from-apache", own("daemon.conf")],
    port,
  );
  try {
    await server.waitFor(/ready after/);
    const base = `http://127.0.0.1:${port}`;
    const shop = await text(`${base}/shop/x`, {
      headers: { Authorization: "Basic eDp5" },
    });
    assert.equal(shop.status, 200, shop.body);
    const seen = JSON.parse(shop.body);
    assert.equal(seen.SCRIPT_NAME, "/shop");
    assert.equal(seen.PATH_INFO, "/x");
    assert.equal(seen["mod_wsgi.process_group"], "shop");
    assert.equal(seen.MYTEST, "from-apache");
    assert.equal(seen.HTTP_AUTHORIZATION, "Basic eDp5");
    assert.equal(seen.cwd, join(root, "tests/apache/www"));
    assert.deepEqual(await text(`${base}/media/note.txt`), {
      status: 200,
      body: "media file\n",
    });
    assert.deepEqual(await text(`${base}/robots.txt`), {
      status: 200,
      body: "User-agent: *\n",
    });
    assert.equal((await text(`${base}/elsewhere`)).status, 404);
    // What it cannot honour is listed at start-up with file and line.
    assert.match(
      server.output(),
      new RegExp(`warning: ${own("daemon.conf")}:3: User: `),
    );
    assert.match(server.output(), /group shop: worker 1\/1 ready/);
  } finally {
    assert.equal(await stop(server), 143, server.output());
  }
});

Deno.test("from-apache follows Include, Define, <VirtualHost>, <IfModule> and -D for <IfDefine>", async () => {
  const port = freePort();
  const server = start(
    ["run", "-A", "cli.ts", "from-apache", own("include.conf"), "-D", "EXTRA"],
    port,
  );
  try {
    await server.waitFor(/ready after/);
    const base = `http://127.0.0.1:${port}`;
    const hello = await text(`${base}/hello`);
    assert.equal(hello.status, 200, hello.body);
    const seen = JSON.parse(hello.body);
    assert.equal(seen.SCRIPT_NAME, "/hello");
    assert.equal(seen.STAGE, "extra");
    assert.equal(seen.script, "index.wsgi");
    assert.equal((await text(`${base}/never`)).status, 404);
    assert.match(
      server.output(),
      new RegExp(
        `warning: ${own("include.d/site.conf")}:13: <IfModule mod_rewrite.c>: `,
      ),
    );
  } finally {
    assert.equal(await stop(server), 143, server.output());
  }
});

Deno.test("from-apache: a mistake in the file is one line with file:line and exit code 2", async () => {
  const folder = Deno.makeTempDirSync({ prefix: "from-apache-" });
  const conf = join(folder, "broken.conf");
  Deno.writeTextFileSync(conf, "Listen 8080\n<Directory /srv>\n</Location>\n");
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli.ts", "from-apache", conf],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  assert.equal(result.code, 2);
  assert.equal(
    stderr,
    `deno-wsgi from-apache: ${conf}:3: </Location> does not close <Directory> (opened at line 2)\n`,
  );
  Deno.removeSync(folder, { recursive: true });
});

Deno.test("from-apache --print: the program type-checks and serves the same site", async () => {
  const port = freePort();
  const printed = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli.ts", "from-apache", own("daemon.conf"), "--print"],
    cwd: root,
    env: { DW_APACHE_PORT: String(port) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(printed.code, 0, new TextDecoder().decode(printed.stderr));
  const folder = Deno.makeTempDirSync({ prefix: "from-apache-print-" });
  const program = join(folder, "site.ts");
  Deno.writeFileSync(program, printed.stdout);
  const source = Deno.readTextFileSync(program);
  assert.match(source, /defineGroup\("shop", \{ processes: 1, threads: 2,/);
  assert.match(source, /mountWsgi\(router, "\/shop", /);
  assert.match(source, /alias\(router, "\/media\/", /);
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--config", join(root, "deno.json"), program],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
  const server = start(
    ["run", "-A", "--config", join(root, "deno.json"), program],
    port,
  );
  try {
    await server.waitFor(/Listening on/);
    const base = `http://127.0.0.1:${port}`;
    const shop = await text(`${base}/shop/`);
    assert.equal(shop.status, 200, shop.body);
    assert.equal(JSON.parse(shop.body).MYTEST, "from-apache");
    assert.equal((await text(`${base}/media/note.txt`)).body, "media file\n");
  } finally {
    await stop(server);
    Deno.removeSync(folder, { recursive: true });
  }
});
