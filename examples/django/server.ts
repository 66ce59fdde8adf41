/**
 * A Django 5 project served at / : a notes app with a form, CSRF and
 * SQLite through the ORM, and Django's admin, whose static files come from
 * aliases (/static/admin/ straight from Django's package), never from
 * Python. The first worker migrates the database and creates the superuser.
 *
 * Run: npx -y deno@2.9.6 task example:django [--port 8000] [--data folder]
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

/** Options of `createDjangoExample()`. */
export interface DjangoExampleOptions {
  /** A writable folder for the SQLite database. Required. */
  dataDir: string;
  /** Web Workers running Django; 0 runs it embedded. Default 1. */
  processes?: number;
  /** Name of the process group. Default "django". */
  groupName?: string;
  /** The superuser that startup creates if it does not exist yet. */
  superuser?: { username: string; password: string; email?: string };
  /** Django's SECRET_KEY. Default: a development key. */
  secretKey?: string;
}

/** The example's parts, for a server or a test to use. */
export interface DjangoExample {
  /** The Hono app: aliases and the Django mount. */
  app: Hono;
  /** The process group running Django. */
  group: ProcessGroup;
  /** The Django mount at /. */
  mount: WsgiMount;
}

/**
 * Builds the Hono app with Django mounted at /, its packages taken from
 * `sitePackages` (a `pip install --target` folder).
 *
 * @example
 * ```ts ignore
 * const sitePackages = await ensurePythonPackages();
 * const { app, mount } = createDjangoExample(sitePackages, {
 *   dataDir: await Deno.makeTempDir(),
 *   superuser: { username: "admin", password: "s3cret-pass" },
 * });
 * Deno.serve(app.fetch);
 * await mount.ready();
 * ```
 */
export function createDjangoExample(
  sitePackages: string,
  options: DjangoExampleOptions,
): DjangoExample {
  if (!options?.dataDir) {
    throw new TypeError(
      "createDjangoExample: option dataDir must name a writable folder for the database",
    );
  }
  const app = new Hono();
  app.get("/healthz", (c) => c.text("ok"));
  // Like "Alias /static/admin/ .../django/contrib/admin/static/admin/".
  alias(
    app,
    "/static/admin/",
    `${sitePackages}/django/contrib/admin/static/admin/`,
  );
  alias(app, "/static/", `${HERE}static/`);
  const env: Record<string, string> = {
    DJANGO_SETTINGS_MODULE: "mysite.settings",
    DJANGO_DATA_DIR: options.dataDir,
  };
  if (options.secretKey) env.DJANGO_SECRET_KEY = options.secretKey;
  if (options.superuser) {
    env.DJANGO_SUPERUSER_USERNAME = options.superuser.username;
    env.DJANGO_SUPERUSER_PASSWORD = options.superuser.password;
    env.DJANGO_SUPERUSER_EMAIL = options.superuser.email ??
      "admin@example.com";
  }
  const group = defineGroup(options.groupName ?? "django", {
    processes: options.processes ?? 1,
    pythonPath: [sitePackages],
    // In the snapshot every later worker starts from (README: Cold start).
    preload: ["django"],
    // The working directory, where SQLite's file lives: writable, so that
    // every worker writes the one host file.
    home: options.dataDir,
    writable: [options.dataDir],
    env,
  });
  const mount = mountWsgi(app, "/", `${HERE}app.wsgi`, { group });
  return { app, group, mount };
}

if (import.meta.main) {
  const flags = parseExampleFlags({ data: undefined });
  const sitePackages = await ensurePythonPackages();
  const dataDir = flags.extra.data ??
    await Deno.makeTempDir({ prefix: "deno-wsgi-django-" });
  await Deno.mkdir(dataDir, { recursive: true });
  const username = Deno.env.get("DJANGO_SUPERUSER_USERNAME") ?? "admin";
  const password = Deno.env.get("DJANGO_SUPERUSER_PASSWORD") ??
    crypto.randomUUID().slice(0, 13);
  const { app, mount } = createDjangoExample(sitePackages, {
    dataDir,
    processes: flags.processes,
    superuser: { username, password },
    secretKey: Deno.env.get("DJANGO_SECRET_KEY"),
  });
  await serveExample(app.fetch, mount, flags, {
    listening: (base) =>
      `Listening on ${base}/ : notes at /, admin at /admin/ ; database in ${dataDir}`,
    ready: () =>
      `Django is ready; admin login: ${username} / ${
        Deno.env.get("DJANGO_SUPERUSER_PASSWORD")
          ? "(DJANGO_SUPERUSER_PASSWORD)"
          : password
      }`,
  });
}
