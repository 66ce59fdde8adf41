/**
 * A Flask 3 + SQLAlchemy 2 guestbook on PostgreSQL (through pg8000, pure
 * Python), mounted at /guestbook in a Hono server beside a TypeScript route
 * (/api/ping), its stylesheet served by an alias.
 *
 * The database comes from `DATABASE_URL` (or `--database-url`), e.g.
 * `postgresql://user:password@127.0.0.1:5432/guestbook`; a plain
 * `postgresql://` URL is switched to pg8000, because psycopg2 is compiled
 * for the host and cannot load in WebAssembly (see guestbook.py). The table
 * is created when the app starts.
 *
 * Run: DATABASE_URL=postgresql://... npx -y deno@2.9.6 task example:postgres
 *      [--port 8000] [--processes 1] [--database-url URL]
 *
 * @module
 */

import { Hono } from "hono";
import { fileURLToPath } from "node:url";
import {
  alias,
  defineGroup,
  mountWsgi,
  type ProcessGroup,
  type WsgiMount,
} from "../../mod.ts";
import { ensurePythonPackages } from "../../tests/python_packages.ts";
import { parseExampleFlags, serveExample } from "../serve_example.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** Options of `createPostgresExample()`. */
export interface PostgresExampleOptions {
  /**
   * The database, `postgresql://user:password@host:port/db` or
   * `postgresql+pg8000://...`. Without it, the app answers every request
   * with a 500 page that says to set DATABASE_URL.
   */
  databaseUrl?: string;
  /** Web Workers running Flask; 0 runs it embedded. Default 1. */
  processes?: number;
  /** Name of the process group. Default "guestbook". */
  groupName?: string;
}

/** The example's parts, for a server or a test to use. */
export interface PostgresExample {
  /** The Hono app: a TypeScript route, an alias and the Flask mount. */
  app: Hono;
  /** The process group running Flask. */
  group: ProcessGroup;
  /** The Flask mount at /guestbook. */
  mount: WsgiMount;
}

/**
 * Builds the Hono app with the guestbook mounted at /guestbook, its
 * packages (Flask, SQLAlchemy, pg8000) taken from `sitePackages` (a
 * `pip install --target` folder).
 *
 * @example
 * ```ts ignore
 * const { app, mount } = createPostgresExample(await ensurePythonPackages(), {
 *   databaseUrl: "postgresql://guestbook:secret@127.0.0.1:5432/guestbook",
 * });
 * Deno.serve(app.fetch);
 * await mount.ready();
 * ```
 */
export function createPostgresExample(
  sitePackages: string,
  options: PostgresExampleOptions = {},
): PostgresExample {
  const app = new Hono();
  app.get("/", (c) => c.redirect("/guestbook/"));
  app.get("/api/ping", (c) => c.text("pong from TypeScript"));
  // Like Apache's "Alias /guestbook/static/ .../static/".
  alias(app, "/guestbook/static/", `${HERE}static/`);
  const group = defineGroup(options.groupName ?? "guestbook", {
    processes: options.processes ?? 1,
    pythonPath: [sitePackages],
    env: options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {},
  });
  const mount = mountWsgi(app, "/guestbook", `${HERE}app.wsgi`, { group });
  return { app, group, mount };
}

/** What to do without a database URL: the start-up message. */
export const MISSING_DATABASE_URL = [
  "DATABASE_URL is not set: the guestbook needs a PostgreSQL database.",
  "Set it, or pass --database-url, to a database you may create a table in:",
  "  DATABASE_URL=postgresql://USER:PASSWORD@127.0.0.1:5432/DBNAME deno task example:postgres",
  "(postgresql:// uses the pure-Python pg8000 driver; psycopg2 cannot load in WebAssembly.)",
  "A throw-away database on Debian: apt-get install postgresql, then",
  "  runuser -u postgres -- createuser --pwprompt guestbook",
  "  runuser -u postgres -- createdb --owner guestbook guestbook",
].join("\n");

if (import.meta.main) {
  const flags = parseExampleFlags({
    "database-url": Deno.env.get("DATABASE_URL"),
  });
  const databaseUrl = flags.extra["database-url"]?.trim();
  if (!databaseUrl) {
    console.error(MISSING_DATABASE_URL);
    Deno.exit(2);
  }
  const sitePackages = await ensurePythonPackages();
  const { app, mount } = createPostgresExample(sitePackages, {
    databaseUrl,
    processes: flags.processes,
  });
  await serveExample(app.fetch, mount, flags, {
    listening: (base) =>
      `Listening on ${base}/ : the guestbook at /guestbook/, TypeScript at /api/ping`,
    ready: () =>
      "The guestbook is ready (if the database cannot be reached, its pages say why, and the log above has one line on it)",
  });
}
