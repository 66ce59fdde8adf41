/**
 * Apache httpd with Debian's mod_wsgi in daemon mode, started from a
 * configuration of its own in a temporary folder: the reference that
 * bench/flask_bench.ts measures the gateway against.
 *
 * @module
 */

/** Options of `startApacheWsgi()`. */
export interface ApacheWsgiOptions {
  /** The port on 127.0.0.1. */
  port: number;
  /** WSGIScriptAlias: the URL prefix, like "/app". */
  prefix: string;
  /** WSGIScriptAlias: the absolute path of the WSGI script. */
  script: string;
  /** WSGIDaemonProcess processes=. */
  processes: number;
  /** WSGIDaemonProcess threads=. Default 1: one request at a time each. */
  threads?: number;
  /** WSGIDaemonProcess python-path= folders (e.g. a site-packages). */
  pythonPath?: string[];
  /** The apache2 binary. Default /usr/sbin/apache2. */
  binary?: string;
  /** Where Debian keeps Apache's modules. Default /usr/lib/apache2/modules. */
  modules?: string;
  /** More configuration lines, e.g. `Alias /media/ /srv/media/` and its `<Directory>`. */
  extraConfig?: string[];
}

/** A running Apache; stop() ends it and removes its folder. */
export interface ApacheWsgi {
  /** The folder with httpd.conf and error.log. */
  folder: string;
  /** Stops Apache (the process this module started) and cleans up. */
  stop(): Promise<void>;
}

/** mod_wsgi's version and the Python it was built for, from Debian. */
export async function modWsgiVersion(): Promise<string> {
  const output = await new Deno.Command("dpkg-query", {
    args: ["-W", "-f=${Version}", "libapache2-mod-wsgi-py3"],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  return output?.success ? new TextDecoder().decode(output.stdout) : "?";
}

/** Apache's version, like "2.4.71". */
export async function apacheVersion(
  binary = "/usr/sbin/apache2",
): Promise<string> {
  const output = await new Deno.Command(binary, {
    args: ["-v"],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  const text = output ? new TextDecoder().decode(output.stdout) : "";
  return text.match(/Apache\/(\S+)/)?.[1] ?? "?";
}

/**
 * Starts Apache in the foreground (a child of this process) with the
 * event MPM and one mod_wsgi daemon process group serving `script`.
 *
 * @example
 * ```ts ignore
 * const apache = await startApacheWsgi({
 *   port: 8400, prefix: "/app", script: "/srv/app.wsgi", processes: 2,
 * });
 * await apache.stop();
 * ```
 */
export async function startApacheWsgi(
  options: ApacheWsgiOptions,
): Promise<ApacheWsgi> {
  const binary = options.binary ?? "/usr/sbin/apache2";
  const modules = options.modules ?? "/usr/lib/apache2/modules";
  for (
    const [path, what] of [
      [binary, "apache2"],
      [`${modules}/mod_wsgi.so`, "mod_wsgi"],
    ]
  ) {
    try {
      await Deno.stat(path);
    } catch {
      throw new Error(
        `${what} is missing (${path}); install Debian's packages with: apt-get install -y apache2 libapache2-mod-wsgi-py3`,
      );
    }
  }
  const folder = await Deno.makeTempDir({ prefix: "bench-apache-" });
  // The daemon processes run as www-data: they must reach the socket.
  await Deno.chmod(folder, 0o755);
  const scriptFolder = options.script.slice(0, options.script.lastIndexOf("/"));
  const pythonPath = [scriptFolder, ...(options.pythonPath ?? [])].join(":");
  const load = (name: string, file: string) =>
    `LoadModule ${name} ${modules}/${file}`;
  const config = [
    `ServerRoot ${folder}`,
    "ServerName 127.0.0.1",
    `Listen 127.0.0.1:${options.port}`,
    `PidFile ${folder}/httpd.pid`,
    `ErrorLog ${folder}/error.log`,
    "LogLevel warn",
    `DefaultRuntimeDir ${folder}`,
    `Mutex file:${folder} default`,
    "User www-data",
    "Group www-data",
    load("mpm_event_module", "mod_mpm_event.so"),
    load("authz_core_module", "mod_authz_core.so"),
    load("mime_module", "mod_mime.so"),
    load("wsgi_module", "mod_wsgi.so"),
    "TypesConfig /etc/mime.types",
    "StartServers 2",
    "ServerLimit 4",
    "ThreadsPerChild 64",
    "MaxRequestWorkers 256",
    "KeepAlive On",
    "MaxKeepAliveRequests 0",
    `WSGISocketPrefix ${folder}/wsgi`,
    `WSGIDaemonProcess bench processes=${options.processes} threads=${
      options.threads ?? 1
    } python-path=${pythonPath} display-name=%{GROUP}`,
    "WSGIProcessGroup bench",
    "WSGIApplicationGroup %{GLOBAL}",
    ...(options.extraConfig ?? []),
    `WSGIScriptAlias ${options.prefix} ${options.script}`,
    `<Directory ${scriptFolder}>`,
    "  Require all granted",
    "</Directory>",
    "",
  ].join("\n");
  await Deno.writeTextFile(`${folder}/httpd.conf`, config);
  const child = new Deno.Command(binary, {
    args: ["-f", `${folder}/httpd.conf`, "-DFOREGROUND"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream());
  let early = "";
  stderr.pipeTo(
    new WritableStream({
      write(text) {
        early += text;
      },
    }),
  ).catch(() => {});
  let exited = false;
  child.status.then(() => exited = true);
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
    }
    await child.status;
    await Deno.remove(folder, { recursive: true }).catch(() => {});
  };
  // Wait until it answers through the daemon processes.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exited) {
      const log = await Deno.readTextFile(`${folder}/error.log`).catch(() =>
        ""
      );
      await stop();
      throw new Error(`Apache exited at start:\n${early}\n${log}`);
    }
    try {
      const response = await fetch(
        `http://127.0.0.1:${options.port}${options.prefix}/`,
      );
      await response.body?.cancel();
      if (response.status < 500) return { folder, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const log = await Deno.readTextFile(`${folder}/error.log`).catch(() => "");
  await stop();
  throw new Error(`Apache did not answer within 30 s:\n${log}`);
}
