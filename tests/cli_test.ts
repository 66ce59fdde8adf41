/**
 * The `deno-wsgi` command, started as a user would (a subprocess of
 * `deno run cli.ts`), and asked over real HTTP(S) on loopback. One server
 * per group of options keeps the file's run time modest.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { START_SERVER_OPTIONS } from "../src/cli/start_server_options.ts";
import { startServerCommand, waitFor } from "./helpers.ts";
import { startNginxProxy } from "./servers.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** Runs the command to its end (for --help and mistakes). */
async function runCli(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return {
    code: output.code,
    stdout: decode(output.stdout),
    stderr: decode(output.stderr),
  };
}

const startCli = startServerCommand;

Deno.test("start-server --help lists every option with its default and the mod_wsgi-express option or directive it matches", async () => {
  const { code, stdout } = await runCli(["start-server", "--help"]);
  assert.equal(code, 0);
  for (const option of START_SERVER_OPTIONS) {
    const line = stdout.split("\n").findIndex((l) =>
      l.startsWith(`  --${option.name}`)
    );
    assert.ok(line >= 0, `--${option.name} is missing from --help`);
    const note = stdout.split("\n")[line + 1];
    assert.match(note, /matches /, `--${option.name} names no match`);
    if (option.fallback) assert.match(note, /default /);
  }
  assert.match(stdout, /--port NUMBER\n.*default 8000/);
  assert.match(stdout, /--threads NUMBER\n.*default 5/);
  const overview = await runCli(["--help"]);
  assert.equal(overview.code, 0);
  assert.match(overview.stdout, /start-server/);
});

Deno.test("a mistake on the command line is one line on stderr and exit code 2, never a stack trace", async () => {
  const cases = [
    [["start-server", "app.wsgi", "--no-such-option"], /no-such-option/],
    [["start-server", "app.wsgi", "--port", "eighty"], /--port must be/],
    [["start-server", "app.wsgi", "--threads", "0"], /--threads must be/],
    [["start-server", "app.wsgi", "--url-alias", "/a"], /two values/],
    [["start-server", "/no/such/app.wsgi", "--port", "0"], /cannot be read/],
    [[
      "start-server",
      "my-app!",
      "--application-type",
      "module",
    ], /module path/],
    [["start-server"], /SCRIPT .* missing/],
    [["no-such-command"], /unknown sub-command/],
  ] as const;
  // A port that is taken: found while starting, after the groups exist.
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String((taken.addr as Deno.NetAddr).port);
  const all = [
    ...cases,
    [[
      "start-server",
      new URL("../examples/hello/app.wsgi", import.meta.url).pathname,
      ...["--host", "127.0.0.1", "--port", port, "--processes", "0"],
    ], /in use/i],
  ] as const;
  try {
    for (const [args, pattern] of all) {
      const { code, stderr, stdout } = await runCli([...args]);
      // Embedded mode's start-up warning (no sandbox) is not the mistake.
      const lines = stderr.trimEnd().split("\n").filter((line) =>
        !/\[wsgi:warn\].*embedded mode/.test(line)
      );
      assert.equal(code, 2, `${args.join(" ")}: exit code`);
      assert.equal(lines.length, 1, `${args.join(" ")}: ${stderr}`);
      assert.match(lines[0], pattern);
      assert.doesNotMatch(stderr + stdout, /\n\s+at /, "a stack trace");
    }
  } finally {
    taken.close();
  }
});

const APP = `
import json, os, time
import helper

def app(environ, start_response):
    if environ["PATH_INFO"] == "/sleep":
        time.sleep(1.5)
    if environ["PATH_INFO"] == "/stuck":
        time.sleep(60)
    if environ["PATH_INFO"] == "/print":
        print("printed by the app")
    body = json.dumps({
        "script_name": environ["SCRIPT_NAME"],
        "greeting": environ.get("GREETING"),
        "passed": environ.get("PASSED_VAR"),
        "multiprocess": environ["wsgi.multiprocess"],
        "multithread": environ["wsgi.multithread"],
        "helper": helper.VALUE,
        "cwd": os.getcwd(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
`;

Deno.test("start-server: aliases, mount point, callable, processes and threads, setenv and passenv, python-path, working directory, error and access logs, log level, status, request timeout, reload on changes, graceful stop", async () => {
  const folder = await Deno.makeTempDir({ prefix: "deno-wsgi-cli-" });
  const libs = join(folder, "libs");
  const work = join(folder, "work");
  // Siblings, not inside the script's folder: a working directory nested in
  // it is lost when the script's folder is mapped over it (noted in the
  // report; interpreters.ts is another branch's work).
  const script = join(folder, "site", "app.wsgi");
  await Deno.mkdir(libs);
  await Deno.mkdir(work);
  await Deno.mkdir(join(folder, "site"));
  await Deno.mkdir(join(folder, "static"));
  await Deno.writeTextFile(script, APP);
  await Deno.writeTextFile(join(libs, "helper.py"), "VALUE = 1\n");
  await Deno.writeTextFile(join(folder, "static", "style.css"), "body {}\n");
  await Deno.writeTextFile(join(folder, "robots.txt"), "User-agent: *\n");
  const errorLog = join(folder, "error.log");
  const accessLog = join(folder, "access.log");
  const server = await startCli([
    script,
    ...["--host", "127.0.0.1", "--port", "0", "--mount-point", "/app"],
    ...["--callable-object", "app", "--processes", "2", "--threads", "3"],
    ...["--url-alias", "/static", join(folder, "static")],
    ...["--url-alias", "/robots.txt", join(folder, "robots.txt")],
    ...["--setenv", "GREETING", "hello there", "--passenv", "PASSED_VAR"],
    ...["--python-path", libs, "--working-directory", work],
    ...["--log-level", "info", "--error-log-file", errorLog],
    ...["--access-log-file", accessLog, "--request-timeout", "4"],
    "--server-status",
    ...["--startup-timeout", "120"],
    "--reload-on-changes",
  ], { env: { PASSED_VAR: "from the environment" } });
  try {
    const base = server.urls[0].replace(/\/$/, "");
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.output(), /group default: worker 1\/2 ready/);
    assert.match(server.output(), /group default: worker 2\/2 ready/);

    const response = await fetch(`${base}/app/`);
    assert.equal(response.status, 200, server.output());
    assert.deepEqual(await response.json(), {
      script_name: "/app",
      greeting: "hello there",
      passed: "from the environment",
      multiprocess: true,
      multithread: true,
      helper: 1,
      cwd: work,
    });
    const css = await fetch(`${base}/static/style.css`);
    assert.equal(await css.text(), "body {}\n");
    assert.match(css.headers.get("content-type")!, /text\/css/);
    assert.equal(
      await (await fetch(`${base}/robots.txt`)).text(),
      "User-agent: *\n",
    );
    assert.equal((await fetch(`${base}/elsewhere`)).status, 404);
    // --server-status: loopback may read it, and it wins over the mount.
    const statusPage = await fetch(`${base}/server-status?format=json`);
    assert.equal(statusPage.status, 200);
    const groups = (await statusPage.json()).groups;
    assert.deepEqual(groups.map((g: { name: string }) => g.name), ["default"]);
    const metrics = await fetch(`${base}/server-status?format=prometheus`);
    assert.match(await metrics.text(), /group="default"/);

    // Apache's combined format, one line per request, aliases included.
    await waitFor(
      () => Deno.readTextFileSync(accessLog).includes("/elsewhere"),
      5000,
      "the access log",
    );
    assert.match(
      Deno.readTextFileSync(accessLog),
      /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/app\/ HTTP\/1\.1" 200 \d+ "-" "[^"]*"$/m,
    );
    assert.match(
      Deno.readTextFileSync(accessLog),
      /"GET \/static\/style\.css HTTP\/1\.1" 200 /,
    );

    await (await fetch(`${base}/app/print`)).body?.cancel();
    await waitFor(
      () => Deno.readTextFileSync(errorLog).includes("printed by the app"),
      5000,
      "the app's print() in the error log",
    );
    assert.match(Deno.readTextFileSync(errorLog), /\[wsgi:info\]/);

    // --request-timeout: 504, and the group serves on.
    const stuck = await fetch(`${base}/app/stuck`);
    assert.equal(stuck.status, 504);
    await stuck.body?.cancel();
    const again = await fetch(`${base}/app/`);
    assert.equal(again.status, 200);
    await again.body?.cancel();

    // --reload-on-changes: a module the app imported changes, not the script.
    await Deno.writeTextFile(join(libs, "helper.py"), "VALUE = 2\n");
    await waitFor(
      async () => {
        const body = await (await fetch(`${base}/app/`)).json();
        return body.helper === 2;
      },
      30_000,
      "the new helper.py",
    );
    assert.match(server.output(), /helper\.py changed: restarting group/);

    // SIGTERM lets the request in flight finish, then exits with 0.
    const slow = fetch(`${base}/app/sleep`);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const status = await server.stop("SIGTERM");
    const finished = await slow;
    assert.equal(finished.status, 200);
    await finished.body?.cancel();
    assert.equal(status.code, 0);
  } finally {
    await server.stop("SIGKILL");
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("start-server: --application-type module with a package's relative imports, embedded, over HTTPS and HTTP, with a virtualenv, a body limit, a trusted proxy and a JSON access log", async () => {
  const folder = await Deno.makeTempDir({ prefix: "deno-wsgi-cli-" });
  await Deno.mkdir(join(folder, "shop"));
  await Deno.writeTextFile(join(folder, "shop", "__init__.py"), "");
  await Deno.writeTextFile(join(folder, "shop", "names.py"), 'NAME = "shop"\n');
  await Deno.writeTextFile(
    join(folder, "shop", "web.py"),
    [
      "from .names import NAME",
      "import greeting",
      "",
      "def app(environ, start_response):",
      '    environ["wsgi.input"].read()',
      '    start_response("200 OK", [("Content-Type", "text/plain")])',
      '    words = [NAME, greeting.WORD, environ["wsgi.url_scheme"], environ.get("HTTPS", "-"), environ["REMOTE_ADDR"]]',
      '    return [" ".join(words).encode()]',
      "",
    ].join("\n"),
  );
  // --python-home: a virtualenv's site-packages, whatever its Python version.
  const venvPackages = join(
    folder,
    "venv",
    "lib",
    "python3.11",
    "site-packages",
  );
  await Deno.mkdir(venvPackages, { recursive: true });
  await Deno.writeTextFile(
    join(venvPackages, "greeting.py"),
    'WORD = "venv"\n',
  );
  const cert = join(folder, "cert.pem");
  const key = join(folder, "key.pem");
  const openssl = await new Deno.Command("openssl", {
    args: [
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
      ...["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
      ...["-addext", "basicConstraints=critical,CA:FALSE"],
      ...["-keyout", key, "-out", cert],
    ],
    stdout: "null",
    stderr: "null",
  }).output();
  assert.equal(openssl.code, 0, "openssl made no certificate");
  const server = await startCli([
    "shop.web:app",
    ...["--application-type", "module", "--processes", "0"],
    ...["--host", "127.0.0.1", "--port", "0", "--https-port", "0"],
    ...["--ssl-certificate-file", cert, "--ssl-certificate-key-file", key],
    ...["--startup-timeout", "120", "--limit-request-body", "100"],
    ...["--access-log", "--access-log-format", "json"],
    ...["--python-home", join(folder, "venv")],
    ...[
      "--trust-proxy-header",
      "X-Forwarded-For",
      "--trust-proxy",
      "127.0.0.1",
    ],
  ], { cwd: folder });
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(cert)],
  });
  try {
    assert.equal(server.urls.length, 2);
    const [http, https] = server.urls;
    assert.match(http, /^http:/);
    assert.match(https, /^https:/);
    assert.match(server.output(), /embedded interpreter 1\/1 ready/);
    assert.equal(
      await (await fetch(http)).text(),
      "shop venv http - 127.0.0.1",
    );
    // --access-log without a file: JSON lines on stdout.
    await waitFor(
      () => server.output().includes('"status":200'),
      5000,
      "a JSON access line",
    );
    const line = server.output().split("\n").find((l) =>
      l.includes('"status":200')
    )!;
    assert.equal(JSON.parse(line).method, "GET");
    const secure = await fetch(https, { client });
    assert.equal(await secure.text(), "shop venv https 1 127.0.0.1");
    // --limit-request-body: 413 before the app; at the limit, the app runs.
    const large = await fetch(http, { method: "POST", body: "x".repeat(101) });
    assert.equal(large.status, 413);
    await large.body?.cancel();
    const fits = await fetch(http, { method: "POST", body: "x".repeat(100) });
    assert.equal(fits.status, 200);
    await fits.body?.cancel();
    // --trust-proxy 127.0.0.1: the test's own address is the trusted proxy.
    const proxied = await fetch(http, {
      headers: { "X-Forwarded-For": "203.0.113.9" },
    });
    assert.equal(await proxied.text(), "shop venv http - 203.0.113.9");
  } finally {
    client.close();
    await server.stop("SIGKILL");
    await Deno.remove(folder, { recursive: true });
  }
});

const ENVIRON_APP = `
import json

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    keys = ["REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SERVER_PORT"]
    return [json.dumps({key: environ.get(key) for key in keys}).encode()]
`;

Deno.test("start-server behind nginx (the deployment notes' headers): the client's address, scheme, host and port through the proxy; forged headers dropped from anyone else", async () => {
  const folder = await Deno.makeTempDir({ prefix: "deno-wsgi-cli-" });
  await Deno.writeTextFile(join(folder, "app.wsgi"), ENVIRON_APP);
  const server = await startCli([
    join(folder, "app.wsgi"),
    ...["--host", "127.0.0.1", "--port", "0", "--processes", "0"],
    ...["--startup-timeout", "120"],
    ...["--trust-proxy-header", "X-Forwarded-For"],
    ...["--trust-proxy-header", "X-Forwarded-Proto"],
    ...["--trust-proxy-header", "X-Forwarded-Host"],
    ...["--trust-proxy-header", "X-Forwarded-Port"],
    // nginx connects from 127.0.0.2; the test's own client is 127.0.0.1.
    ...["--trust-proxy", "127.0.0.2"],
  ]);
  const port = Number(new URL(server.urls[0]).port);
  const nginx = await startNginxProxy(port);
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(nginx.caFile!)],
  });
  try {
    const proxied = await fetch(`https://localhost:${nginx.port}/`, {
      client,
      headers: { "X-Forwarded-For": "6.6.6.6" },
    });
    assert.deepEqual(await proxied.json(), {
      REMOTE_ADDR: "127.0.0.1",
      "wsgi.url_scheme": "https",
      HTTP_HOST: "localhost",
      SERVER_PORT: String(nginx.port),
    });
    const direct = await fetch(server.urls[0], {
      headers: {
        "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Port": "443",
      },
    });
    assert.deepEqual(await direct.json(), {
      REMOTE_ADDR: "127.0.0.1",
      "wsgi.url_scheme": "http",
      HTTP_HOST: `127.0.0.1:${port}`,
      SERVER_PORT: String(port),
    });
  } finally {
    client.close();
    await nginx.stop();
    await server.stop("SIGKILL");
    await Deno.remove(folder, { recursive: true });
  }
});
