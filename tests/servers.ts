/**
 * Private real servers for the network tests: PostgreSQL, MariaDB, Redis,
 * a plain HTTP server, an HTTPS server signed by a throw-away test CA, and
 * a TCP server that accepts but never answers. Each listens on 127.0.0.1
 * only, on a free port, keeps its files in a fresh temporary folder, and is
 * stopped by its own PID (never by name). Databases that refuse to run as
 * root run as an unprivileged system user (`denowsgi`, created if missing).
 *
 * Nothing is mocked: the binaries are the distribution's (Debian's
 * postgresql, mariadb-server, redis-server, openssl; `.ci/run` installs
 * them when missing).
 *
 * @module
 */

import { join } from "node:path";

/** What every started server reports. */
export interface StartedServer {
  /** Always "127.0.0.1". */
  host: string;
  port: number;
  /** A URL or DSN a client library takes as is. */
  url: string;
  /** The temporary folder that holds the server's files and its log. */
  dir: string;
  /** The PID of the server process (stop() signals this one only). */
  pid: number;
  /** The last lines of the server's log, for error messages. */
  logTail(lines?: number): Promise<string>;
  /** Stops the server by its PID and removes its folder. */
  stop(): Promise<void>;
}

/** A database server with a password-authenticated user and a database. */
export interface DatabaseServer extends StartedServer {
  user: string;
  password: string;
  database: string;
  /**
   * Runs SQL with the server's own command-line client as an administrator
   * (over the server's Unix socket), returning rows as tab-separated lines.
   */
  query(sql: string): Promise<string>;
}

/** A Redis server that requires a password (user "default"). */
export interface RedisServer extends StartedServer {
  user: string;
  password: string;
}

/** An HTTP(S) server; `caFile` is set for TLS. */
export interface HttpServer extends StartedServer {
  /** The test CA's certificate (PEM) that signed the server's certificate. */
  caFile?: string;
}

const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const COMMAND_TIMEOUT_MS = 60_000;
const SERVER_USER = "denowsgi";
const HTTP_MAIN = new URL("./http_server_main.ts", import.meta.url).pathname;

/** The uid/gid a server runs as: ours, or the system user when we are root. */
interface Account {
  name: string;
  uid: number;
  gid: number;
}

// ---------------------------------------------------------------- basics

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readTail(file: string, lines = 30): Promise<string> {
  try {
    const text = await Deno.readTextFile(file);
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch (error) {
    return `(no log: ${(error as Error).message})`;
  }
}

/** Runs a command to completion, failing with its output if it fails. */
async function runCommand(
  command: string,
  args: string[],
  options: {
    account?: Account;
    env?: Record<string, string>;
    cwd?: string;
    timeoutMs?: number;
  } = {},
): Promise<string> {
  const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args,
      env: options.env,
      cwd: options.cwd,
      uid: options.account?.uid,
      gid: options.account?.gid,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
  } catch (error) {
    throw new Error(
      `could not run ${command} ${args.join(" ")}: ${(error as Error).message}`,
    );
  }
  const decoder = new TextDecoder();
  const text = decoder.decode(output.stdout) + decoder.decode(output.stderr);
  if (!output.success) {
    const why = output.signal
      ? `was killed by ${output.signal} (time limit ${timeoutMs} ms?)`
      : `exited with code ${output.code}`;
    throw new Error(
      `${command} ${args.join(" ")} ${why}:\n${text.trim()}`,
    );
  }
  return decoder.decode(output.stdout);
}

/** Finds an executable on PATH or in the given folders. */
async function findBinary(
  name: string,
  folders: string[] = [],
): Promise<string> {
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  for (const folder of [...folders, ...path.split(":"), "/usr/sbin", "/sbin"]) {
    const candidate = join(folder, name);
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return candidate;
    } catch {
      // not there
    }
  }
  throw new Error(
    `${name} not found (looked in ${
      [...folders, "PATH"].join(", ")
    }); install it, e.g. with .ci/run's apt-get step`,
  );
}

/** PostgreSQL's bin folders, newest version first. */
async function postgresBinFolders(): Promise<string[]> {
  const versions: number[] = [];
  try {
    for await (const entry of Deno.readDir("/usr/lib/postgresql")) {
      if (/^\d+$/.test(entry.name)) versions.push(Number(entry.name));
    }
  } catch {
    // not a Debian layout; PATH is searched too
  }
  return versions.sort((a, b) => b - a).map((v) =>
    `/usr/lib/postgresql/${v}/bin`
  );
}

function lookUpAccount(name: string): Account | undefined {
  try {
    const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) =>
      l.startsWith(`${name}:`)
    );
    if (!line) return undefined;
    const [, , uid, gid] = line.split(":");
    return { name, uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

let accountPromise: Promise<Account | undefined> | undefined;

/**
 * The account servers run as: undefined (ourselves) unless we are root,
 * which PostgreSQL refuses; then a system user, created once if missing.
 */
function serverAccount(): Promise<Account | undefined> {
  accountPromise ??= (async () => {
    if (Deno.uid() !== 0) return undefined;
    const existing = lookUpAccount(SERVER_USER);
    if (existing) return existing;
    await runCommand("useradd", [
      "--system",
      "--no-create-home",
      "--home-dir",
      "/nonexistent",
      "--shell",
      "/usr/sbin/nologin",
      SERVER_USER,
    ]);
    const created = lookUpAccount(SERVER_USER);
    if (!created) throw new Error(`useradd ${SERVER_USER} made no account`);
    return created;
  })();
  return accountPromise;
}

/** A fresh temporary folder the server's account owns. */
async function serverFolder(
  kind: string,
  account?: Account,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `deno-wsgi-${kind}-` });
  if (account) await Deno.chown(dir, account.uid, account.gid);
  return dir;
}

/** A long-running server process whose output goes to a log file. */
interface ServerProcess {
  child: Deno.ChildProcess;
  pid: number;
  logFile: string;
  /** Set once the process has exited. */
  exit?: Deno.CommandStatus;
}

/**
 * Starts a server with its stdout and stderr appended to `logFile` by the
 * shell, which then execs the server: the PID is the server's own, and no
 * pipe of ours can fill up and stall it while a test blocks our event loop.
 */
function spawnServer(
  binary: string,
  args: string[],
  logFile: string,
  account?: Account,
  env?: Record<string, string>,
): ServerProcess {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'exec "$0" "$@" >>"$SERVER_LOG" 2>&1', binary, ...args],
    env: { ...env, SERVER_LOG: logFile },
    uid: account?.uid,
    gid: account?.gid,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const server: ServerProcess = { child, pid: child.pid, logFile };
  child.status.then((status) => server.exit = status);
  return server;
}

/**
 * Polls `ready` until it returns true. Fails, naming `what`, with the
 * server's log tail, if the server exits first or the time limit passes.
 */
async function waitUntilReady(
  server: ServerProcess,
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs = START_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    if (server.exit) {
      throw new Error(
        `${what} exited (code ${server.exit.code}${
          server.exit.signal ? `, ${server.exit.signal}` : ""
        }) before accepting connections; log ${server.logFile}:\n${await readTail(
          server.logFile,
        )}`,
      );
    }
    try {
      if (await ready()) return;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(
    `${what} did not accept connections within ${timeoutMs} ms${
      lastError ? ` (last attempt: ${lastError.trim()})` : ""
    }; log ${server.logFile}:\n${await readTail(server.logFile)}`,
  );
}

/** Signals the server by PID, waits for it to exit, then SIGKILLs it. */
async function stopProcess(
  server: ServerProcess,
  signal: Deno.Signal,
): Promise<void> {
  if (server.exit) return;
  try {
    Deno.kill(server.pid, signal);
  } catch {
    // already gone
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    server.child.status.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), STOP_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
  if (!exited) {
    try {
      Deno.kill(server.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await server.child.status;
  }
}

/**
 * Wraps a started process as a StartedServer whose stop() signals it and
 * removes its folder; stop() may be called more than once.
 */
function startedServer(
  server: ServerProcess,
  dir: string,
  port: number,
  url: string,
  stopSignal: Deno.Signal,
): StartedServer {
  let stopping: Promise<void> | undefined;
  return {
    host: HOST,
    port,
    url,
    dir,
    pid: server.pid,
    logTail: (lines) => readTail(server.logFile, lines),
    stop: () =>
      stopping ??= (async () => {
        await stopProcess(server, stopSignal);
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      })(),
  };
}

/** Runs `body`; if it throws, stops the process and removes the folder. */
async function cleanUpOnFailure<T>(
  started: () => ServerProcess | undefined,
  dir: string,
  body: () => Promise<T>,
): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const server = started();
    if (server) await stopProcess(server, "SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

async function canConnect(port: number): Promise<boolean> {
  const connection = await Deno.connect({ hostname: HOST, port });
  connection.close();
  return true;
}

// ------------------------------------------------------------ PostgreSQL

/**
 * Starts a private PostgreSQL on 127.0.0.1 with a free port: initdb into a
 * temporary folder (fsync off, for speed), the postmaster run as an
 * unprivileged user, and a login role with a SCRAM password that owns a
 * UTF-8 database. `url` is `postgresql://user:password@127.0.0.1:port/db`.
 * `query()` runs SQL as the superuser through the Unix socket.
 */
export async function startPostgres(): Promise<DatabaseServer> {
  const folders = await postgresBinFolders();
  const [initdb, postgres, psql] = await Promise.all(
    ["initdb", "postgres", "psql"].map((name) => findBinary(name, folders)),
  );
  const account = await serverAccount();
  const dir = await serverFolder("postgres", account);
  const data = join(dir, "data");
  const admin = "admin";
  const user = "wsgi";
  const password = randomSecret();
  const database = "wsgi_test";
  const port = freePort();
  let server: ServerProcess | undefined;
  return await cleanUpOnFailure(() => server, dir, async () => {
    await runCommand(initdb, [
      "--pgdata",
      data,
      "--username",
      admin,
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C",
      "--no-sync",
    ], { account, cwd: dir });
    server = spawnServer(
      postgres,
      [
        "-D",
        data,
        "-h",
        HOST,
        "-p",
        String(port),
        "-k",
        dir,
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=40",
        "-c",
        "shared_buffers=16MB",
      ],
      join(dir, "postgres.log"),
      account,
    );
    const asAdmin = (sql: string, db = "postgres") =>
      runCommand(psql, [
        "-X",
        "-q",
        "-A",
        "-t",
        "-F",
        "\t",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        dir,
        "-p",
        String(port),
        "-U",
        admin,
        "-d",
        db,
        "-c",
        sql,
      ], { timeoutMs: 15_000 });
    await waitUntilReady(
      server,
      `PostgreSQL (${postgres}, port ${port})`,
      async () => (await asAdmin("SELECT 1")).trim() === "1",
    );
    await asAdmin(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
    await asAdmin(
      `CREATE DATABASE ${database} OWNER ${user} ENCODING 'UTF8' TEMPLATE template0`,
    );
    return {
      ...startedServer(
        server,
        dir,
        port,
        `postgresql://${user}:${password}@${HOST}:${port}/${database}`,
        // SIGINT is PostgreSQL's fast shutdown: it ends open sessions
        // instead of waiting for clients to leave.
        "SIGINT",
      ),
      user,
      password,
      database,
      query: (sql: string) => asAdmin(sql, database),
    };
  });
}

// --------------------------------------------------------------- MariaDB

/**
 * Starts a private MariaDB on 127.0.0.1 with a free port: a data folder
 * made with mariadb-install-db, mariadbd without any my.cnf, as an
 * unprivileged user, with grant tables on (a real password check), a user
 * with a password and a utf8mb4 database. `url` is
 * `mysql://user:password@127.0.0.1:port/db`. `query()` runs SQL as
 * MariaDB's root through the Unix socket.
 */
export async function startMariaDB(): Promise<DatabaseServer> {
  const [installDb, mariadbd, client] = await Promise.all([
    findBinary("mariadb-install-db"),
    findBinary("mariadbd"),
    findBinary("mariadb"),
  ]);
  const account = await serverAccount();
  const dir = await serverFolder("mariadb", account);
  const data = join(dir, "data");
  const socket = join(dir, "mariadb.sock");
  const user = "wsgi";
  const password = randomSecret();
  const database = "wsgi_test";
  const port = freePort();
  let server: ServerProcess | undefined;
  return await cleanUpOnFailure(() => server, dir, async () => {
    await runCommand(installDb, [
      "--no-defaults",
      `--datadir=${data}`,
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      "--skip-name-resolve",
    ], { account, cwd: dir });
    server = spawnServer(
      mariadbd,
      [
        "--no-defaults",
        `--datadir=${data}`,
        `--socket=${socket}`,
        `--pid-file=${join(dir, "mariadb.pid")}`,
        `--port=${port}`,
        `--bind-address=${HOST}`,
        "--skip-name-resolve",
        "--skip-log-bin",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        "--innodb-buffer-pool-size=32M",
        "--innodb-log-file-size=16M",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--max-connections=40",
      ],
      join(dir, "mariadb.log"),
      account,
    );
    const asRoot = (sql: string, db?: string) =>
      runCommand(client, [
        "--no-defaults",
        `--socket=${socket}`,
        "--user=root",
        "--batch",
        "--skip-column-names",
        ...(db ? [`--database=${db}`] : []),
        "-e",
        sql,
      ], { timeoutMs: 15_000 });
    await waitUntilReady(
      server,
      `MariaDB (${mariadbd}, port ${port})`,
      async () => (await asRoot("SELECT 1")).trim() === "1",
    );
    await asRoot(
      `CREATE DATABASE ${database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; ` +
        `CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'; ` +
        `GRANT ALL PRIVILEGES ON ${database}.* TO '${user}'@'%'; ` +
        // PROCESS lets the test user see every session in PROCESSLIST.
        `GRANT PROCESS ON *.* TO '${user}'@'%'`,
    );
    return {
      ...startedServer(
        server,
        dir,
        port,
        `mysql://${user}:${password}@${HOST}:${port}/${database}`,
        "SIGTERM",
      ),
      user,
      password,
      database,
      query: (sql: string) => asRoot(sql, database),
    };
  });
}

// ----------------------------------------------------------------- Redis

/**
 * Starts a private Redis on 127.0.0.1 with a free port, no persistence, and
 * a password (`requirepass`, user "default"). `url` is
 * `redis://:password@127.0.0.1:port/0`.
 */
export async function startRedis(): Promise<RedisServer> {
  const redisServer = await findBinary("redis-server");
  const account = await serverAccount();
  const dir = await serverFolder("redis", account);
  const password = randomSecret();
  const port = freePort();
  let server: ServerProcess | undefined;
  return await cleanUpOnFailure(() => server, dir, async () => {
    server = spawnServer(
      redisServer,
      [
        "--port",
        String(port),
        "--bind",
        HOST,
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--requirepass",
        password,
        "--daemonize",
        "no",
      ],
      join(dir, "redis.log"),
      account,
    );
    await waitUntilReady(
      server,
      `Redis (${redisServer}, port ${port})`,
      () => redisPing(port, password),
    );
    return {
      ...startedServer(
        server,
        dir,
        port,
        `redis://:${password}@${HOST}:${port}/0`,
        "SIGTERM",
      ),
      user: "default",
      password,
    };
  });
}

/** AUTH then PING in Redis's wire protocol; true on +PONG. */
async function redisPing(port: number, password: string): Promise<boolean> {
  const connection = await Deno.connect({ hostname: HOST, port });
  try {
    const command = `AUTH ${password}\r\nPING\r\n`;
    await connection.write(new TextEncoder().encode(command));
    const buffer = new Uint8Array(256);
    let reply = "";
    const deadline = Date.now() + 2000;
    while (!reply.includes("PONG") && Date.now() < deadline) {
      const n = await connection.read(buffer);
      if (n === null) break;
      reply += new TextDecoder().decode(buffer.subarray(0, n));
      if (reply.startsWith("-")) throw new Error(reply.trim());
    }
    return reply.includes("+PONG");
  } finally {
    connection.close();
  }
}

// ------------------------------------------------------------ HTTP, TLS

/** Starts tests/http_server_main.ts in its own Deno process. */
async function startDenoServer(
  kind: string,
  mode: "http" | "https" | "silent",
  extraArgs: string[] = [],
  existingDir?: string,
): Promise<StartedServer> {
  const dir = existingDir ?? await serverFolder(kind);
  const port = freePort();
  let server: ServerProcess | undefined;
  return await cleanUpOnFailure(() => server, dir, async () => {
    server = spawnServer(Deno.execPath(), [
      "run",
      "--quiet",
      "--no-config",
      `--allow-net=${HOST}`,
      `--allow-read=${dir}`,
      HTTP_MAIN,
      mode,
      String(port),
      ...extraArgs,
    ], join(dir, `${mode}.log`));
    await waitUntilReady(
      server,
      `the ${mode} test server (${HTTP_MAIN}, port ${port})`,
      () => canConnect(port),
    );
    const scheme = mode === "silent" ? "tcp" : mode;
    return startedServer(
      server,
      dir,
      port,
      `${scheme}://${HOST}:${port}`,
      "SIGTERM",
    );
  });
}

/**
 * Starts a loopback HTTP/1.1 server (a Deno.serve in a child Deno process,
 * so that it answers even while an embedded interpreter blocks the test's
 * own event loop). Routes: `/hello` (text), `/unicode` (UTF-8 text),
 * `/echo` (JSON of method, path, query, headers and body), `/status/NNN`,
 * `/redirect` (302 to /hello), `/slow?ms=N`.
 */
export function startHttpServer(): Promise<HttpServer> {
  return startDenoServer("http", "http");
}

/**
 * Starts a loopback HTTPS server with the routes of startHttpServer(),
 * whose certificate (for 127.0.0.1 and localhost) is signed by a test CA
 * made with the openssl CLI in the server's folder; `caFile` is that CA's
 * certificate.
 */
export async function startTlsServer(): Promise<HttpServer> {
  const dir = await serverFolder("tls");
  const { caFile, certFile, keyFile } = await cleanUpOnFailure(
    () => undefined,
    dir,
    () => makeTestCertificates(dir),
  );
  const server = await startDenoServer(
    "tls",
    "https",
    [certFile, keyFile],
    dir,
  );
  return { ...server, caFile };
}

/**
 * Starts a TCP server on loopback that accepts connections, reads what it
 * is sent and never answers: a client's read timeout must end the wait.
 */
export function startSilentServer(): Promise<StartedServer> {
  return startDenoServer("silent", "silent");
}

/**
 * Makes a CA (EC P-256, CA:TRUE) and a server certificate it signs, with
 * subjectAltName IP:127.0.0.1 and DNS:localhost, and the extensions that
 * Python's VERIFY_X509_STRICT (default since 3.13) requires.
 */
async function makeTestCertificates(
  dir: string,
): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const openssl = await findBinary("openssl");
  const caKey = join(dir, "ca.key");
  const caFile = join(dir, "ca.pem");
  const keyFile = join(dir, "server.key");
  const csrFile = join(dir, "server.csr");
  const certFile = join(dir, "server.pem");
  const extFile = join(dir, "server.ext");
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  await runCommand(openssl, [
    "req",
    "-x509",
    ...ecKey,
    "-nodes",
    "-keyout",
    caKey,
    "-out",
    caFile,
    "-days",
    "2",
    "-subj",
    "/CN=deno-wsgi test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await runCommand(openssl, [
    "req",
    ...ecKey,
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    csrFile,
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(
    extFile,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "subjectKeyIdentifier=hash",
      "authorityKeyIdentifier=keyid,issuer",
      "",
    ].join("\n"),
  );
  await runCommand(openssl, [
    "x509",
    "-req",
    "-in",
    csrFile,
    "-CA",
    caFile,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "2",
    "-extfile",
    extFile,
  ]);
  return { caFile, certFile, keyFile };
}

// ----------------------------------------------------------------- nginx

/** A test CA and a server certificate it signs, in a fresh folder. */
export async function makeCertificates(): Promise<
  { dir: string; caFile: string; certFile: string; keyFile: string }
> {
  const dir = await serverFolder("certs");
  return { dir, ...await makeTestCertificates(dir) };
}

/**
 * Debian's nginx on a free port of 127.0.0.1, in the foreground, with its
 * files in a fresh folder: `http` returns the inside of its `http { }`
 * block (given the folder and the port).
 */
async function startNginx(
  kind: string,
  http: (dir: string, port: number) => Promise<string>,
): Promise<{ server: ServerProcess; dir: string; port: number }> {
  const nginx = await findBinary("nginx");
  const dir = await serverFolder(kind);
  const port = freePort();
  let server: ServerProcess | undefined;
  return await cleanUpOnFailure(() => server, dir, async () => {
    const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
      .map((kind) => `${kind}_temp_path ${join(dir, kind)};`).join("\n  ");
    await Deno.writeTextFile(
      join(dir, "nginx.conf"),
      `daemon off;
master_process off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 512; }
http {
  access_log off;
  ${temp}
${await http(dir, port)}
}
`,
    );
    server = spawnServer(
      nginx,
      ["-p", dir, "-e", join(dir, "error.log"), "-c", join(dir, "nginx.conf")],
      join(dir, "nginx.log"),
    );
    await waitUntilReady(
      server,
      `nginx (${nginx}, port ${port})`,
      () => canConnect(port),
    );
    return { server, dir, port };
  });
}

/**
 * Starts Debian's nginx as a TLS reverse proxy in front of `upstreamPort`
 * on 127.0.0.1, with the usual forwarded headers (`X-Forwarded-For`
 * `$proxy_add_x_forwarded_for`, `-Proto $scheme`, `-Host $host`, `-Port
 * $server_port`). It connects upstream from 127.0.0.2, so the upstream
 * can tell the proxy from a client on 127.0.0.1. `url` is its https URL;
 * its certificate is signed by the CA in `caFile`.
 */
export async function startNginxProxy(
  upstreamPort: number,
): Promise<HttpServer> {
  let caFile = "";
  const { server, dir, port } = await startNginx(
    "nginx",
    async (dir, port) => {
      const certificates = await makeTestCertificates(dir);
      caFile = certificates.caFile;
      return `  server {
    listen ${HOST}:${port} ssl;
    ssl_certificate ${certificates.certFile};
    ssl_certificate_key ${certificates.keyFile};
    location / {
      proxy_pass http://${HOST}:${upstreamPort};
      proxy_bind 127.0.0.2;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Port $server_port;
    }
  }`;
    },
  );
  return {
    ...startedServer(server, dir, port, `https://${HOST}:${port}`, "SIGQUIT"),
    caFile,
  };
}

/**
 * Debian's nginx in front of several servers (one `upstream`), as
 * README's "Graceful scale-out" shows it: a refused connection, a timeout
 * or a 502/503 from one server is retried on the next (max_fails=0: a
 * stopped server refuses at once, so it is simply tried again each time
 * rather than counted out), and upstream connections are kept alive.
 */
export async function startNginxUpstream(
  upstreamPorts: number[],
): Promise<HttpServer> {
  const servers = upstreamPorts
    .map((upstream) => `server ${HOST}:${upstream} max_fails=0;`)
    .join("\n    ");
  const { server, dir, port } = await startNginx(
    "nginx-upstream",
    (_dir, port) =>
      Promise.resolve(`  upstream app {
    ${servers}
    keepalive 16;
  }
  server {
    listen ${HOST}:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_connect_timeout 1s;
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 0;
    }
  }`),
  );
  return startedServer(server, dir, port, `http://${HOST}:${port}`, "SIGQUIT");
}
