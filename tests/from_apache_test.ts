/**
 * `cli.ts from-apache CONF` end to end: the command runs as a subprocess on
 * configurations in tests/apache/own, and is asked over loopback; the port
 * comes from the environment through `${DW_APACHE_PORT}`, as Apache reads
 * environment variables. `--print`'s program is type-checked and run.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { siteFromApache } from "../mod.ts";
import { printSite } from "../src/apache/print.ts";
import { spawnCollected } from "./helpers.ts";
import { freePort, makeCertificates } from "./servers.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const own = (name: string) => join(root, "tests/apache/own", name);
/** Pyodide's start on a busy shared machine can take a while. */
const START_LIMIT_MS = 180_000;

interface Running {
  child: Deno.ChildProcess;
  output: () => string;
  /** Resolves when the output has a line matching `pattern`. */
  waitFor: (pattern: RegExp) => Promise<void>;
}

function start(
  args: string[],
  port: number,
  env: Record<string, string> = {},
): Running {
  const { child, output } = spawnCollected(Deno.execPath(), {
    args,
    cwd: root,
    env: { ...env, DW_APACHE_PORT: String(port) },
  });
  const waitFor = async (pattern: RegExp) => {
    const deadline = Date.now() + START_LIMIT_MS;
    while (!pattern.test(output())) {
      if (Date.now() > deadline) {
        throw new Error(`no ${pattern} within the time limit:\n${output()}`);
      }
      await new Promise((done) => setTimeout(done, 100));
    }
  };
  return { child, output, waitFor };
}

async function stop(running: Running): Promise<number> {
  running.child.kill("SIGTERM");
  return (await running.child.status).code;
}

async function text(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.text() };
}

Deno.test("from-apache serves a daemon process group, Alias, SetEnv, LimitRequestBody and CustomLog", async () => {
  const port = freePort();
  const run = Deno.makeTempDirSync({ prefix: "from-apache-daemon-" });
  const server = start(
    ["run", "-A", "cli.ts", "from-apache", own("daemon.conf")],
    port,
    { DW_APACHE_RUN: run },
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
    // WSGIImportScript: imported when the worker started.
    assert.equal(seen.preloaded, true);
    assert.deepEqual(await text(`${base}/media/note.txt`), {
      status: 200,
      body: "media file\n",
    });
    assert.deepEqual(await text(`${base}/robots.txt`), {
      status: 200,
      body: "User-agent: *\n",
    });
    assert.equal((await text(`${base}/elsewhere`)).status, 404);
    const tooLarge = await text(`${base}/shop/upload`, {
      method: "POST",
      body: "x".repeat(1001),
    });
    assert.equal(tooLarge.status, 413);
    const log = Deno.readTextFileSync(join(run, "access.log"));
    assert.match(log, /"GET \/shop\/x HTTP\/1\.1" 200 /);
    assert.match(log, /"POST \/shop\/upload HTTP\/1\.1" 413 /);
    // What it cannot honour is listed at start-up with file and line.
    assert.match(
      server.output(),
      new RegExp(`warning: ${own("daemon.conf")}:3: User: `),
    );
    assert.match(server.output(), /group shop: worker 1\/1 ready/);
  } finally {
    assert.equal(await stop(server), 0, server.output());
    Deno.removeSync(run, { recursive: true });
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
    assert.equal(await stop(server), 0, server.output());
  }
});

Deno.test("from-apache serves the quick guide's daemon-mode vhost as it is, on --listen", async () => {
  const port = freePort();
  const server = start(
    [
      "run",
      "-A",
      "cli.ts",
      "from-apache",
      join(root, "tests/apache/seeds/quick-daemon.conf"),
      "--listen",
      `127.0.0.1:${port}`,
    ],
    port,
  );
  try {
    await server.waitFor(/ready after/);
    const base = `http://127.0.0.1:${port}`;
    const app = await text(`${base}/some/page`);
    assert.equal(app.status, 200, app.body);
    const seen = JSON.parse(app.body);
    assert.equal(seen.SCRIPT_NAME, "");
    assert.equal(seen.PATH_INFO, "/some/page");
    assert.equal(seen["mod_wsgi.process_group"], "example.com");
    // The aliases win over the application mounted at "/".
    assert.deepEqual(await text(`${base}/media/note.txt`), {
      status: 200,
      body: "media file\n",
    });
    assert.equal((await text(`${base}/favicon.ico`)).body, "ICO");
    assert.match(server.output(), /group example\.com: worker 2\/2 ready/);
  } finally {
    assert.equal(await stop(server), 0, server.output());
  }
});

Deno.test("from-apache serves HTTPS from SSLEngine, SSLCertificateFile and SSLCertificateKeyFile", async () => {
  const certs = await makeCertificates();
  const port = freePort();
  const server = start(
    ["run", "-A", "cli.ts", "from-apache", own("tls.conf")],
    port,
    { DW_APACHE_CERT: certs.certFile, DW_APACHE_KEY: certs.keyFile },
  );
  const client = Deno.createHttpClient({
    caCerts: [Deno.readTextFileSync(certs.caFile)],
  });
  try {
    await server.waitFor(/ready after/);
    assert.match(
      server.output(),
      new RegExp(`https://127\\.0\\.0\\.1:${port}/`),
    );
    const response = await fetch(`https://localhost:${port}/secure/x`, {
      client,
    });
    const seen = await response.json();
    assert.equal(response.status, 200);
    assert.equal(seen["wsgi.url_scheme"], "https");
    assert.equal(seen.PATH_INFO, "/x");
  } finally {
    client.close();
    assert.equal(await stop(server), 0, server.output());
    Deno.removeSync(certs.dir, { recursive: true });
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

Deno.test("from-apache --check lists the warnings and exits 0 without serving", async () => {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "cli.ts",
      "from-apache",
      join(root, "tests/apache/seeds/flask.conf"),
      "--check",
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(result.stdout);
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  const file = join(root, "tests/apache/seeds/flask.conf");
  assert.deepEqual(
    stdout.split("\n").map((line) => line.split(": ").slice(0, 3).join(": ")),
    [
      `warning: ${file}:5: WSGIDaemonProcess user=`,
      `warning: ${file}:5: WSGIDaemonProcess group=`,
      `warning: ${file}: Listen`,
      `${file}: 1 listener(s), 1 group(s), 1 mount(s), 0 alias(es), 3 warning(s)`,
      "",
    ],
  );
});

Deno.test("from-apache --print: the program type-checks and serves the same site", async () => {
  const port = freePort();
  const folder = Deno.makeTempDirSync({ prefix: "from-apache-print-" });
  const printed = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli.ts", "from-apache", own("daemon.conf"), "--print"],
    cwd: root,
    env: { DW_APACHE_PORT: String(port), DW_APACHE_RUN: folder },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(printed.code, 0, new TextDecoder().decode(printed.stderr));
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
    const tooLarge = await text(`${base}/shop/`, {
      method: "POST",
      body: "x".repeat(1001),
    });
    assert.equal(tooLarge.status, 413);
    assert.match(
      Deno.readTextFileSync(join(folder, "access.log")),
      /"GET \/shop\/ HTTP\/1\.1" 200 /,
    );
  } finally {
    await stop(server);
    Deno.removeSync(folder, { recursive: true });
  }
});

const APACHE = "/usr/sbin/apache2";
const MOD_WSGI = "/usr/lib/apache2/modules/mod_wsgi.so";
const hasApache = [APACHE, MOD_WSGI].every((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});

/** The answers compared: status and body of each request. */
async function answers(base: string): Promise<[number, string][]> {
  const requests: [string, RequestInit?][] = [
    ["/app/x?q=1"],
    ["/app"],
    ["/app/echo", { method: "POST", body: "posted body" }],
    ["/app/gone"],
    ["/media/note.txt"],
    ["/robots.txt"],
  ];
  const result: [number, string][] = [];
  for (const [path, init] of requests) {
    const { status, body } = await text(base + path, init);
    result.push([status, body]);
  }
  // Apache's own 404 page differs from ours: the status is compared.
  result.push([(await text(base + "/nothing-here")).status, ""]);
  return result;
}

Deno.test({
  name:
    "from-apache answers as Debian's Apache + mod_wsgi does on the same configuration",
  ignore: !hasApache,
  fn: async () => {
    const run = Deno.makeTempDirSync({ prefix: "from-apache-compare-" });
    // mod_wsgi's daemon processes (www-data when run as root) use its sockets.
    Deno.chmodSync(run, 0o755);
    const env = (port: number) => ({
      DW_APACHE_PORT: String(port),
      DW_APACHE_RUN: run,
      DW_APACHE_WWW: join(root, "tests/apache/www"),
    });
    const conf = own("compare.conf");
    const apachePort = freePort();
    const apache = new Deno.Command(APACHE, {
      args: [
        "-f",
        conf,
        "-DFOREGROUND",
        ...(Deno.uid() === 0 ? ["-DAS_ROOT"] : []),
      ],
      env: env(apachePort),
      stdout: "null",
      stderr: "null",
    }).spawn();
    const oursPort = freePort();
    const server = start(
      ["run", "-A", "cli.ts", "from-apache", conf],
      oursPort,
      env(oursPort),
    );
    try {
      const apacheBase = `http://127.0.0.1:${apachePort}`;
      const deadline = Date.now() + 60_000;
      while (true) {
        try {
          const response = await fetch(`${apacheBase}/app/`);
          await response.body?.cancel();
          if (response.status === 200) break;
        } catch {
          // Not listening yet.
        }
        if (Date.now() > deadline) throw new Error("Apache did not start");
        await new Promise((done) => setTimeout(done, 200));
      }
      await server.waitFor(/ready after/);
      const expected = await answers(apacheBase);
      assert.equal(expected[0][0], 200);
      assert.match(expected[0][1], /MYTEST='compared'/);
      assert.deepEqual(
        await answers(`http://127.0.0.1:${oursPort}`),
        expected,
      );
    } finally {
      apache.kill("SIGTERM");
      await apache.status;
      await stop(server);
      Deno.removeSync(run, { recursive: true });
    }
  },
});

Deno.test("from-apache --print: the program of every seed's configuration, and of our own with every directive, type-checks", async () => {
  const seeds = join(root, "tests/apache/seeds");
  const folder = Deno.makeTempDirSync({ prefix: "from-apache-seeds-" });
  const tops = [
    "flask.conf",
    "flask-windows.conf",
    "flask-access.conf",
    "macos/httpd.conf",
    "macos/httpd-real.conf",
    "notes-embedded.conf",
    "notes-daemon.conf",
    "quick-myapp.conf",
    "quick-root.conf",
    "quick-daemon.conf",
    "de/apache2.conf",
    // Every directive: status page, access log, limits, proxies, TLS.
    "../own/full.conf",
  ];
  const programs = tops.map((top) => {
    const program = join(folder, top.replace(/\W+/g, "_") + ".ts");
    Deno.writeTextFileSync(
      program,
      printSite(siteFromApache(join(seeds, top)), { source: top }),
    );
    return program;
  });
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--config", join(root, "deno.json"), ...programs],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
  Deno.removeSync(folder, { recursive: true });
});
