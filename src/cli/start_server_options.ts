/**
 * The options of `start-server`: mod_wsgi-express's names and defaults
 * (GrahamDumpleton/mod_wsgi, src/express/options.py), each with the
 * mod_wsgi-express option or Apache directive it matches.
 *
 * @module
 */

import type { CliOption } from "./usage.ts";

/** Every option of start-server; the parser and `--help` both read this table. */
export const START_SERVER_OPTIONS: CliOption[] = [
  {
    name: "host",
    values: ["ADDRESS"],
    fallback: "0.0.0.0 (every interface)",
    matches: "mod_wsgi-express --host; Apache Listen",
    help: "address to listen on",
  },
  {
    name: "port",
    values: ["NUMBER"],
    fallback: "8000",
    matches: "mod_wsgi-express --port; Apache Listen",
    help: "HTTP port (0 picks a free one)",
  },
  {
    name: "mount-point",
    values: ["URL"],
    fallback: "/",
    matches: "mod_wsgi-express --mount-point; WSGIScriptAlias URL",
    help: "URL prefix of the app",
  },
  {
    name: "url-alias",
    values: ["URL", "PATH"],
    repeat: true,
    matches: "mod_wsgi-express --url-alias; Apache Alias",
    help: "serve a file or folder at URL, never through Python",
  },
  {
    name: "application-type",
    values: ["script|module"],
    fallback: "script",
    matches: "mod_wsgi-express --application-type",
    help:
      "SCRIPT is a .wsgi file, or a module path such as myapp.wsgi:application imported from the working directory and --python-path",
  },
  {
    name: "entry-point",
    values: ["SCRIPT"],
    matches: "mod_wsgi-express --entry-point",
    help: "the script or module, instead of the positional SCRIPT",
  },
  {
    name: "callable-object",
    values: ["NAME"],
    fallback: "application",
    matches: "mod_wsgi-express --callable-object; WSGICallableObject",
    help: "name of the WSGI callable",
  },
  {
    name: "processes",
    values: ["NUMBER"],
    fallback: "1",
    matches: "mod_wsgi-express --processes; WSGIDaemonProcess processes=",
    help:
      "workers (Web Workers, each with its own interpreter); 0 runs Python inside the server's isolate (embedded mode)",
  },
  {
    name: "threads",
    values: ["NUMBER"],
    fallback: "5",
    matches: "mod_wsgi-express --threads; WSGIDaemonProcess threads=",
    help: "requests one worker interleaves while they wait on I/O",
  },
  {
    name: "python-path",
    values: ["PATH"],
    repeat: true,
    matches: "mod_wsgi-express --python-path; WSGIDaemonProcess python-path=",
    help: "folder added to sys.path, e.g. a pip install --target folder",
  },
  {
    name: "python-home",
    values: ["PATH"],
    matches: "mod_wsgi-express --python-home; WSGIPythonHome",
    help: "a virtualenv whose site-packages become importable",
  },
  {
    name: "working-directory",
    values: ["PATH"],
    fallback: "the script's folder (module: the current folder)",
    matches: "mod_wsgi-express --working-directory; WSGIDaemonProcess home=",
    help: "the interpreters' working directory",
  },
  {
    name: "setenv",
    values: ["KEY", "VALUE"],
    repeat: true,
    matches: "mod_wsgi-express --setenv; Apache SetEnv",
    help: "add KEY to every request's WSGI environ",
  },
  {
    name: "passenv",
    values: ["NAME"],
    repeat: true,
    matches: "mod_wsgi-express --passenv; Apache PassEnv",
    help: "copy this server variable into every request's WSGI environ",
  },
  {
    name: "reload-on-changes",
    matches: "mod_wsgi-express --reload-on-changes",
    help: "restart the workers when a .py or .wsgi file of the app changes",
  },
  {
    name: "maximum-requests",
    values: ["NUMBER"],
    fallback: "0 (never)",
    matches:
      "mod_wsgi-express --maximum-requests; WSGIDaemonProcess maximum-requests=",
    help: "replace a worker after this many requests",
  },
  {
    name: "restart-interval",
    values: ["SECONDS"],
    fallback: "0 (never)",
    matches:
      "mod_wsgi-express --restart-interval; WSGIDaemonProcess restart-interval=",
    help:
      "recycle a worker once it has served this long, after its requests (its successor starts first)",
  },
  {
    name: "cpu-time-limit",
    values: ["SECONDS"],
    fallback: "0 (never)",
    matches:
      "mod_wsgi-express --cpu-time-limit; WSGIDaemonProcess cpu-time-limit=",
    help:
      "recycle a worker once it has used this much CPU time, after its requests",
  },
  {
    name: "memory-limit",
    values: ["BYTES"],
    fallback: "0 (no limit)",
    matches: "mod_wsgi-express --memory-limit; WSGIDaemonProcess memory-limit=",
    help:
      "recycle a worker whose Python heap grew past this, once its requests are done (64 MiB at least)",
  },
  {
    name: "spare-workers",
    values: ["NUMBER"],
    fallback: "0",
    matches: "(none)",
    help:
      "workers kept started beside --processes, to take over at once from one that stops",
  },
  {
    name: "request-timeout",
    values: ["SECONDS"],
    fallback: "60",
    matches:
      "mod_wsgi-express --request-timeout; WSGIDaemonProcess request-timeout=",
    help: "answer 504 to a request running longer",
  },
  {
    name: "queue-timeout",
    values: ["SECONDS"],
    fallback: "45",
    matches:
      "mod_wsgi-express --queue-timeout; WSGIDaemonProcess queue-timeout=",
    help: "answer 503 to a request waiting longer for a worker",
  },
  {
    name: "startup-timeout",
    values: ["SECONDS"],
    fallback: "15",
    matches:
      "mod_wsgi-express --startup-timeout; WSGIDaemonProcess startup-timeout=",
    help: "replace a worker that has not started (or loaded the app) in time",
  },
  {
    name: "graceful-timeout",
    values: ["SECONDS"],
    fallback: "15",
    matches:
      "mod_wsgi-express --graceful-timeout; WSGIDaemonProcess graceful-timeout=",
    help: "time requests in flight get on a restart or stop",
  },
  {
    name: "header-timeout",
    values: ["SECONDS"],
    fallback: "15",
    matches:
      "mod_wsgi-express --header-timeout; Apache RequestReadTimeout header=",
    help:
      "close a new connection whose first request head is not complete in time (0: no limit)",
  },
  {
    name: "keep-alive-timeout",
    values: ["SECONDS"],
    fallback: "2",
    matches: "mod_wsgi-express --keep-alive-timeout; Apache KeepAliveTimeout",
    help:
      "close a connection idle this long after its last response (0: close after each response)",
  },
  {
    name: "socket-timeout",
    values: ["SECONDS"],
    fallback: "60",
    matches: "mod_wsgi-express --socket-timeout; Apache Timeout",
    help:
      "cut a response the client takes nothing of for this long (0: no limit)",
  },
  {
    name: "max-clients",
    values: ["NUMBER"],
    fallback: "3/4 of the open-file limit, at most 10000",
    matches: "mod_wsgi-express --max-clients; Apache MaxRequestWorkers",
    help:
      "connections open at once; more wait in the listen backlog until one closes",
  },
  {
    name: "ready-path",
    values: ["URL"],
    matches: "(none: Kubernetes readinessProbe, load balancer health checks)",
    help:
      "answer 200 here once the workers have started, 503 from the moment the server stops",
  },
  {
    name: "live-path",
    values: ["URL"],
    matches: "(none: Kubernetes livenessProbe)",
    help: "answer 200 here while the server runs",
  },
  {
    name: "limit-request-body",
    values: ["BYTES"],
    fallback: "10485760",
    matches: "mod_wsgi-express --limit-request-body; Apache LimitRequestBody",
    help: "answer 413 to a larger body (0: no limit)",
  },
  {
    name: "body-timeout",
    values: ["SECONDS"],
    fallback: "15",
    matches: "mod_wsgi-express --body-timeout; Apache RequestReadTimeout body=",
    help:
      "answer 408 to a request body that takes longer, plus 1 s per --body-min-rate bytes received (0: no limit)",
  },
  {
    name: "body-min-rate",
    values: ["BYTES"],
    fallback: "500",
    matches:
      "mod_wsgi-express --body-min-rate; Apache RequestReadTimeout MinRate=",
    help: "bytes of request body that earn one more second of --body-timeout",
  },
  {
    name: "body-buffer-size",
    values: ["BYTES"],
    fallback: "1048576",
    matches: "nginx client_body_buffer_size",
    help:
      "request bodies are read before Python sees them: up to this many bytes in memory, the rest in a temporary file",
  },
  {
    name: "no-request-buffering",
    matches: "nginx proxy_request_buffering off",
    help:
      "stream request bodies into Python as the app reads them instead (a stalled upload then holds a worker)",
  },
  {
    name: "access-log",
    matches: "mod_wsgi-express --access-log; Apache CustomLog",
    help:
      "log every request, in Apache's combined format unless --access-log-format says json",
  },
  {
    name: "access-log-file",
    values: ["PATH"],
    fallback: "- (stdout)",
    matches: "mod_wsgi-express --access-log-name; Apache CustomLog",
    help: "where the access log goes (implies --access-log)",
  },
  {
    name: "access-log-format",
    values: ["combined|json"],
    fallback: "combined",
    matches: "mod_wsgi-express --access-log-format; Apache LogFormat",
    help: "format of the access log (implies --access-log)",
  },
  {
    name: "error-log-file",
    values: ["PATH"],
    fallback: "- (stderr)",
    matches: "mod_wsgi-express --error-log-name; Apache ErrorLog",
    help: "where tracebacks, print() and server events go",
  },
  {
    name: "log-level",
    values: ["LEVEL"],
    fallback: "warn",
    matches: "mod_wsgi-express --log-level; Apache LogLevel",
    help:
      "debug, info, warn or error (Apache's notice, crit, alert, emerg and trace1-8 are mapped)",
  },
  {
    name: "server-status",
    matches: "mod_wsgi-express --server-status; mod_status",
    help: "serve /server-status (JSON, HTML, Prometheus) to loopback clients",
  },
  {
    name: "trust-proxy-header",
    values: ["NAME"],
    repeat: true,
    matches: "mod_wsgi-express --trust-proxy-header; WSGITrustedProxyHeaders",
    help:
      "honour this header (X-Forwarded-For, X-Forwarded-Proto, ...) from a --trust-proxy address",
  },
  {
    name: "trust-proxy",
    values: ["ADDRESS"],
    repeat: true,
    matches: "mod_wsgi-express --trust-proxy; WSGITrustedProxies",
    help: "address or CIDR range of a proxy whose headers are trusted",
  },
  {
    name: "https-port",
    values: ["NUMBER"],
    matches: "mod_wsgi-express --https-port; Apache Listen 443 + SSLEngine on",
    help: "also serve HTTPS on this port (needs the two files below)",
  },
  {
    name: "https-only",
    matches: "mod_wsgi-express --https-only",
    help: "serve HTTPS only, no plain HTTP listener",
  },
  {
    name: "ssl-certificate-file",
    values: ["PATH"],
    matches: "mod_wsgi-express --ssl-certificate-file; SSLCertificateFile",
    help: "PEM certificate chain",
  },
  {
    name: "ssl-certificate-key-file",
    values: ["PATH"],
    matches:
      "mod_wsgi-express --ssl-certificate-key-file; SSLCertificateKeyFile",
    help: "PEM private key",
  },
  {
    name: "snapshot-folder",
    values: ["DIR"],
    fallback:
      "$DENO_WSGI_SNAPSHOTS, else $XDG_CACHE_HOME/deno-wsgi/snapshots, else ~/.cache/deno-wsgi/snapshots",
    matches: "(none: mod_wsgi starts CPython natively)",
    help:
      "where workers find (and save) interpreter snapshots; build-snapshot writes there",
  },
  {
    name: "snapshot-read-only",
    matches: "(none)",
    help:
      "use the snapshot that build-snapshot left in --snapshot-folder and never write one (read-only deploys)",
  },
  {
    name: "snapshot-script",
    matches: "(none)",
    help:
      "take the snapshot after importing SCRIPT too, so that no worker imports it (refused, and said, when its import draws entropy or leaves a file open)",
  },
  {
    name: "no-snapshot",
    matches: "(none)",
    help: "start every worker without a snapshot",
  },
  { name: "help", matches: "mod_wsgi-express --help", help: "show this text" },
];
