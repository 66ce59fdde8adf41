/**
 * python/files.py on real Pyodide, without the gateway: writes outside the
 * writable folders are refused with a message that names the option to use,
 * reads and /tmp keep working, SQLite in a writable folder persists on the
 * host, and two interpreters in two Web Workers writing one SQLite file at
 * once lose no row. Also prints what the audit hook and the lock cost.
 */

import assert from "node:assert/strict";
import { loadPyodide, type PyodideAPI } from "pyodide";
import type { InsertJob, InsertResult } from "./apps/files_worker.ts";
import { exists } from "./helpers.ts";
import { ensurePythonPackages } from "./python_packages.ts";

const options = { sanitizeOps: false, sanitizeResources: false };
const source = await Deno.readTextFile(
  new URL("../python/files.py", import.meta.url),
);

interface Layout {
  root: string;
  app: string;
  data: string;
  venv: string;
}

/** Host folders as a group has them: a script folder with data inside. */
function makeLayout(): Layout {
  const root = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "files-" }));
  const layout = {
    root,
    app: `${root}/app`,
    data: `${root}/app/data`,
    venv: `${root}/venv`,
  };
  for (const folder of [layout.data, layout.venv]) {
    Deno.mkdirSync(folder, { recursive: true });
  }
  Deno.writeTextFileSync(`${layout.app}/readme.txt`, "from the app");
  Deno.writeTextFileSync(`${layout.venv}/lib.txt`, "from the venv");
  return layout;
}

/** A Pyodide interpreter with the layout mounted and files.install() run. */
async function interpreter(
  layout: Layout,
  missing: Record<string, string> = {},
  install = true,
): Promise<PyodideAPI> {
  const pyodide = await loadPyodide();
  for (const folder of [layout.app, layout.data, layout.venv]) {
    pyodide.FS.mkdirTree(folder);
    pyodide.mountNodeFS(folder, folder);
  }
  pyodide.FS.mkdirTree("/deno_wsgi");
  pyodide.FS.writeFile("/deno_wsgi/files.py", source);
  pyodide.globals.set("APP", layout.app);
  pyodide.globals.set("DATA", layout.data);
  pyodide.globals.set("VENV", layout.venv);
  pyodide.runPython(`
import errno, json, os, sqlite3, sys
sys.path.insert(0, "/deno_wsgi")
import files

def refusal(action):
    """The PermissionError message an action raises (fails if none)."""
    try:
        action()
    except PermissionError as error:
        assert error.errno == errno.EACCES, error.errno
        return error.strerror
    raise AssertionError("no PermissionError")
`);
  if (install) {
    pyodide.globals.set("MISSING", pyodide.toPy(missing));
    pyodide.runPython(`
files.install(
    [DATA],
    {APP: "the WSGI script's folder", VENV: "pythonHome"},
    MISSING,
)
`);
  }
  return pyodide;
}

function python(pyodide: PyodideAPI, code: string): unknown {
  return JSON.parse(pyodide.runPython(code) as string);
}

const layout = makeLayout();
const shared = await interpreter(layout);

Deno.test(
  "writes outside the writable folders name `writable`",
  options,
  () => {
    const messages = python(
      shared,
      `
import pathlib
json.dumps([
    refusal(lambda: open("/var/tmp/myapp/x.db", "w")),
    refusal(lambda: pathlib.Path("notes.txt").write_text("lost")),
    refusal(lambda: os.mkdir("/home/pyodide/cache")),
    refusal(lambda: sqlite3.connect("/var/tmp/myapp/x.db")),
    refusal(lambda: os.open("/srv/x", os.O_WRONLY | os.O_CREAT)),
])
`,
    ) as string[];
    assert.equal(
      messages[0],
      "deno-wsgi: /var/tmp/myapp/x.db is outside the group's writable " +
        "folders, so the write would only go to this worker's memory and be " +
        "lost at the next restart; add its folder to the group's `writable` " +
        'option (defineGroup(name, { writable: ["/var/tmp/myapp"] }))',
    );
    // A relative path is taken from the working folder.
    assert.match(
      messages[1],
      /^deno-wsgi: \/home\/pyodide\/notes\.txt is outside/,
    );
    for (const message of messages) assert.match(message, /`writable` option/);
  },
);

Deno.test(
  "read-only folders name their option; writable inside stays writable",
  options,
  () => {
    const result = python(
      shared,
      `
import shutil
with open(DATA + "/written.txt", "w") as f:
    f.write("kept")
json.dumps([
    refusal(lambda: open(APP + "/x.txt", "w")),
    refusal(lambda: open(APP + "/readme.txt", "a")),
    refusal(lambda: os.remove(APP + "/readme.txt")),
    refusal(lambda: os.rename(APP + "/readme.txt", DATA + "/moved.txt")),
    refusal(lambda: shutil.copyfile(DATA + "/written.txt", APP + "/c.txt")),
    refusal(lambda: os.utime(APP + "/readme.txt")),
    refusal(lambda: open(VENV + "/lib.txt", "r+")),
    refusal(lambda: sqlite3.connect(APP + "/app.db")),
])
`,
    ) as string[];
    assert.equal(Deno.readTextFileSync(`${layout.data}/written.txt`), "kept");
    assert.equal(
      result[0],
      `deno-wsgi: ${layout.app}/x.txt is in the WSGI script's folder ` +
        `(${layout.app}), which is read-only to Python; add the folder to ` +
        `\`writable\` (defineGroup(name, { writable: ["${layout.app}"] })) to ` +
        "write there",
    );
    for (const message of result.slice(0, 6)) {
      assert.match(message, /is in the WSGI script's folder/);
    }
    assert.match(result[6], /is in pythonHome \(/);
    assert.match(result[7], /mode=ro", uri=True\)$/);
    assert.equal(
      Deno.readTextFileSync(`${layout.app}/readme.txt`),
      "from the app",
    );
    assert.ok(!exists(`${layout.app}/x.txt`));
  },
);

Deno.test(
  "a writable folder Deno may not write names the missing flag",
  options,
  async () => {
    const own = makeLayout();
    const pyodide = await interpreter(own, {
      [own.data]: `--allow-write=${own.data}`,
    });
    const message = python(
      pyodide,
      `json.dumps(refusal(lambda: open(DATA + "/x", "w")))`,
    );
    assert.equal(
      message,
      `deno-wsgi: ${own.data}/x is in the writable folder ${own.data}, but ` +
        "Deno's permissions do not allow writing there: start the server " +
        `with --allow-write=${own.data}`,
    );
  },
);

Deno.test("reads work everywhere", options, () => {
  const result = python(
    shared,
    `
import email.mime.text, io
with open(DATA + "/read.txt", "w") as f:
    f.write("data")
json.dumps([
    open(APP + "/readme.txt").read(),
    open(VENV + "/lib.txt", "rb").read().decode(),
    open(DATA + "/read.txt").read(),
    io.open_code(APP + "/readme.txt").read().decode(),
    os.fdopen(os.open(APP + "/readme.txt", os.O_RDONLY)).read(),
    sorted(os.listdir(APP)),
    os.path.exists(APP + "/readme.txt"),
])
`,
  );
  assert.deepEqual(result, [
    "from the app",
    "from the venv",
    "data",
    "from the app",
    "from the app",
    ["data", "readme.txt"],
    true,
  ]);
});

Deno.test(
  "/tmp and /dev stay writable (in memory, per worker)",
  options,
  () => {
    const result = python(
      shared,
      `
import tempfile
with tempfile.TemporaryFile() as f:
    f.write(b"scratch")
spooled = tempfile.SpooledTemporaryFile(max_size=10)
spooled.write(b"x" * 100)
spooled.rollover()
folder = tempfile.mkdtemp()
with open(folder + "/a.txt", "w") as f:
    f.write("a")
os.rename(folder + "/a.txt", folder + "/b.txt")
os.remove(folder + "/b.txt")
os.rmdir(folder)
with open("/dev/null", "w") as f:
    f.write("gone")
scratch = sqlite3.connect("/tmp/scratch.db")
scratch.execute("CREATE TABLE t (x)")
scratch.execute("INSERT INTO t VALUES (1)")
scratch.commit()
memory = sqlite3.connect(":memory:")
json.dumps([
    folder.startswith("/tmp/"),
    type(scratch).__name__,
    type(memory).__name__,
    scratch.execute("SELECT count(*) FROM t").fetchone()[0],
])
`,
    );
    assert.deepEqual(result, [true, "Connection", "Connection", 1]);
  },
);

Deno.test(
  "SQLite in a writable folder persists on the host",
  options,
  async () => {
    const own = makeLayout();
    const writer = await interpreter(own);
    python(
      writer,
      `
connection = sqlite3.connect(DATA + "/kept.db")
connection.execute("CREATE TABLE notes (body TEXT)")
with connection:
    connection.executemany(
        "INSERT INTO notes VALUES (?)", [("one",), ("two",)]
    )
connection.close()
"null"
`,
    );
    const head = Deno.readFileSync(`${own.data}/kept.db`).slice(0, 16);
    assert.equal(new TextDecoder().decode(head), "SQLite format 3\0");
    assert.ok(!exists(`${own.data}/kept.db.deno-wsgi-lock`));
    const reader = await interpreter(own);
    const rows = python(
      reader,
      `json.dumps(sqlite3.connect(DATA + "/kept.db")
        .execute("SELECT body FROM notes ORDER BY body").fetchall())`,
    );
    assert.deepEqual(rows, [["one"], ["two"]]);
  },
);

Deno.test(
  "the lock follows transactions through the sqlite3 API",
  options,
  () => {
    const lock = `${layout.data}/api.db.deno-wsgi-lock`;
    shared.globals.set("held", () => exists(lock));
    const steps = python(
      shared,
      `
steps = []
def note(name):
    steps.append([name, held()])

c = sqlite3.connect(DATA + "/api.db")
c.execute("CREATE TABLE t (x)")
note("autocommit DDL")
c.execute("INSERT INTO t VALUES (1)")
note("INSERT opens a transaction")
c.commit()
note("commit")
c.cursor().execute("INSERT INTO t VALUES (2)")
c.rollback()
note("cursor().execute, rollback")
with c:
    c.executemany("INSERT INTO t VALUES (?)", [(3,), (4,)])
    note("inside with")
note("after with")
try:
    with c:
        c.execute("INSERT INTO t VALUES (99)")
        raise ValueError
except ValueError:
    pass
note("with, rolled back")
c.executescript("INSERT INTO t VALUES (5); INSERT INTO t VALUES (6);")
note("executescript")
cursor = c.execute("SELECT x FROM t ORDER BY x")
note("SELECT outside a transaction")
rows = [cursor.fetchone()[0], [r[0] for r in cursor.fetchmany(2)]]
rows.append([r[0] for r in cursor])


class CursorWrapper(sqlite3.Cursor):
    """Like Django's SQLiteCursorWrapper: format-style parameters."""

    def execute(self, query, params=None):
        if params is None:
            return super().execute(query)
        return super().execute(query.replace("%s", "?"), params)


wrapped = c.cursor(factory=CursorWrapper)
wrapped.execute("SELECT count(*) FROM t WHERE x > %s", (0,))
rows.append(wrapped.fetchone()[0])
rows.append(isinstance(wrapped, CursorWrapper))
c.isolation_level = None
c.execute("BEGIN")
c.execute("INSERT INTO t VALUES (7)")
note("explicit BEGIN")
c.execute("COMMIT")
note("explicit COMMIT")
c.close()
note("close")
a = sqlite3.connect(DATA + "/api.db", autocommit=False)
a.execute("INSERT INTO t VALUES (8)")
note("autocommit=False")
a.commit()
note("autocommit=False commit")
a.close()


class Factory(sqlite3.Connection):
    pass


f = sqlite3.connect(DATA + "/api.db", factory=Factory)
rows.append([isinstance(f, Factory), f.execute("SELECT count(*) FROM t").fetchone()[0]])
f.close()
json.dumps([steps, rows])
`,
    ) as [[string, boolean][], unknown[]];
    assert.deepEqual(steps[0], [
      ["autocommit DDL", false],
      ["INSERT opens a transaction", true],
      ["commit", false],
      ["cursor().execute, rollback", false],
      ["inside with", true],
      ["after with", false],
      ["with, rolled back", false],
      ["executescript", false],
      ["SELECT outside a transaction", false],
      ["explicit BEGIN", true],
      ["explicit COMMIT", false],
      ["close", false],
      ["autocommit=False", true],
      ["autocommit=False commit", false],
    ]);
    // Rows 1, 3, 4, 5 and 6 are committed when counted; 7 and 8 follow.
    assert.deepEqual(steps[1], [1, [3, 4], [5, 6], 5, true, [true, 7]]);
  },
);

Deno.test(
  "a held lock times out as 'database is locked'; a stale one is broken",
  options,
  () => {
    const lock = `${layout.data}/busy.db.deno-wsgi-lock`;
    python(shared, `sqlite3.connect(DATA + "/busy.db").close(); "null"`);
    Deno.mkdirSync(lock);
    const waited = python(
      shared,
      `
import time
c = sqlite3.connect(DATA + "/busy.db", timeout=0.3)
start = time.monotonic()
try:
    c.execute("CREATE TABLE t (x)")
    outcome = "no error"
except sqlite3.OperationalError as error:
    outcome = str(error)
json.dumps([outcome, time.monotonic() - start])
`,
    ) as [string, number];
    assert.equal(waited[0], "database is locked");
    assert.ok(waited[1] >= 0.25 && waited[1] < 3, `waited ${waited[1]} s`);
    // Its holder died a minute ago.
    const old = new Date(Date.now() - 60_000);
    Deno.utimeSync(lock, old, old);
    const count = python(
      shared,
      `
c.execute("CREATE TABLE t (x)")
c.execute("INSERT INTO t VALUES (1)")
c.commit()
json.dumps(c.execute("SELECT count(*) FROM t").fetchone()[0])
`,
    );
    assert.equal(count, 1);
    assert.ok(!exists(lock));
  },
);

Deno.test(
  "Django's sqlite3 backend and SQLAlchemy's pysqlite dialect",
  options,
  async () => {
    const sitePackages = await ensurePythonPackages();
    const pyodide = await loadPyodide();
    const own = makeLayout();
    for (const folder of [own.data, sitePackages]) {
      pyodide.FS.mkdirTree(folder);
      pyodide.mountNodeFS(folder, folder);
    }
    pyodide.FS.mkdirTree("/deno_wsgi");
    pyodide.FS.writeFile("/deno_wsgi/files.py", source);
    pyodide.globals.set("DATA", own.data);
    pyodide.globals.set("SITE", sitePackages);
    const lock = (name: string) => exists(`${own.data}/${name}.deno-wsgi-lock`);
    pyodide.globals.set("held", lock);
    const result = python(
      pyodide,
      `
import json, os, sys
sys.path[:0] = ["/deno_wsgi", SITE]
import files
files.install([DATA], {SITE: "pythonPath"}, {})
# Pyodide's asyncio loop runs here; the gateway hides it from apps
# (python/compat.py), this bare interpreter does not.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"

import django
from django.conf import settings
settings.configure(
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA + "/django.db",
        }
    },
    INSTALLED_APPS=[],
)
django.setup()
from django.db import connection, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
with transaction.atomic():
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO notes (body) VALUES (%s)", ["django"])
    inside = held("django.db")
with connection.cursor() as cursor:
    cursor.execute("SELECT body FROM notes")
    django_rows = cursor.fetchall()
django_result = [
    type(connection.connection).__name__,
    inside,
    held("django.db"),
    django_rows,
]
connection.close()

import sqlalchemy
from sqlalchemy import text

engine = sqlalchemy.create_engine("sqlite:///" + DATA + "/alchemy.db")
with engine.begin() as conn:
    conn.execute(text("CREATE TABLE notes (body TEXT)"))
    conn.execute(text("INSERT INTO notes VALUES (:b)"), [{"b": "one"}, {"b": "two"}])
    inside = held("alchemy.db")
with engine.connect() as conn:
    alchemy_rows = conn.execute(text("SELECT body FROM notes ORDER BY body")).all()
    raw = conn.connection.dbapi_connection
alchemy_result = [
    type(raw).__name__,
    inside,
    held("alchemy.db"),
    [list(row) for row in alchemy_rows],
]
engine.dispose()
json.dumps([django_result, alchemy_result])
`,
    );
    assert.deepEqual(result, [
      ["LockingConnection", true, false, [["django"]]],
      ["LockingConnection", true, false, [["one"], ["two"]]],
    ]);
  },
);

/** Runs the insert job in two Web Workers at once. */
async function insertTogether(
  own: Layout,
  database: string,
  rows: number,
  lock: boolean,
): Promise<InsertResult[]> {
  const barrier = new SharedArrayBuffer(4);
  const workers = [1, 2].map(() =>
    new Worker(new URL("./apps/files_worker.ts", import.meta.url), {
      type: "module",
    })
  );
  try {
    return await Promise.all(
      workers.map((worker, index) =>
        new Promise<InsertResult>((resolve, reject) => {
          worker.onmessage = (event) => resolve(event.data);
          worker.onerror = (event) => {
            event.preventDefault();
            reject(new Error(event.message));
          };
          const job: InsertJob = {
            id: index + 1,
            folders: [own.data],
            writable: [own.data],
            database,
            rows,
            lock,
            barrier,
          };
          worker.postMessage(job);
        })
      ),
    );
  } finally {
    for (const worker of workers) worker.terminate();
  }
}

Deno.test(
  "two workers writing one SQLite file at once lose no row",
  options,
  async () => {
    const own = makeLayout();
    const database = `${own.data}/shared.db`;
    const pyodide = await interpreter(own);
    python(
      pyodide,
      `
c = sqlite3.connect(DATA + "/shared.db")
c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, worker INTEGER, n INTEGER)")
c.close()
"null"
`,
    );
    // FILES_TEST_NO_LOCK=1 shows what happens without the lock.
    const lock = Deno.env.get("FILES_TEST_NO_LOCK") !== "1";
    const results = await insertTogether(own, database, 200, lock);
    const counted = python(
      pyodide,
      `
c = sqlite3.connect(DATA + "/shared.db")
json.dumps([
    c.execute("SELECT count(*) FROM t").fetchone()[0],
    c.execute("SELECT count(DISTINCT worker || '.' || n) FROM t").fetchone()[0],
    c.execute("PRAGMA integrity_check").fetchone()[0],
])
`,
    );
    console.log(
      `  two workers: ${
        results.map((r) =>
          `worker ${r.id} ${r.inserted} rows in ${r.seconds.toFixed(2)} s`
        ).join(", ")
      }; table: ${JSON.stringify(counted)}`,
    );
    assert.deepEqual(results.flatMap((r) => r.errors), []);
    assert.deepEqual(counted, [400, 400, "ok"]);
    assert.ok(!exists(`${database}.deno-wsgi-lock`));
  },
);

Deno.test("cost of the audit hook and of the lock", options, async () => {
  const own = makeLayout();
  const pyodide = await interpreter(own, {}, false);
  const measure = `
import time
def per_open(n=20000):
    path = APP + "/readme.txt"
    start = time.perf_counter()
    for _ in range(n):
        open(path, "rb").close()
    return (time.perf_counter() - start) / n * 1e6

def inserts(connect, name, n=1000):
    c = connect(DATA + "/" + name)
    c.execute("CREATE TABLE IF NOT EXISTS t (x)")
    c.commit()
    start = time.perf_counter()
    for i in range(n):
        c.execute("INSERT INTO t VALUES (?)", (i,))
        c.commit()
    own = time.perf_counter() - start
    start = time.perf_counter()
    with c:
        for i in range(n):
            c.execute("INSERT INTO t VALUES (?)", (i,))
    one = time.perf_counter() - start
    c.close()
    return [own * 1000, one * 1000]
`;
  pyodide.runPython(measure);
  const before = python(
    pyodide,
    `json.dumps([per_open(), inserts(files._original_connect, "plain.db")])`,
  ) as [number, number[]];
  pyodide.runPython(
    `files.install([DATA], {APP: "the WSGI script's folder"}, {})`,
  );
  const after = python(
    pyodide,
    `json.dumps([per_open(), inserts(files.connect, "locked.db"),
                 inserts(files._original_connect, "plain2.db")])`,
  ) as [number, number[], number[]];
  console.log(
    `  open() for reading: ${before[0].toFixed(2)} µs without the hook, ` +
      `${after[0].toFixed(2)} µs with it\n` +
      `  1000 inserts, each committed: ${before[1][0].toFixed(0)} ms ` +
      `without the lock, ${after[1][0].toFixed(0)} ms with it ` +
      `(${after[2][0].toFixed(0)} ms unlocked with the hook)\n` +
      `  1000 inserts in one transaction: ${before[1][1].toFixed(0)} ms ` +
      `without the lock, ${after[1][1].toFixed(0)} ms with it`,
  );
  assert.ok(after[0] < before[0] + 50, "the hook made open() far slower");
});
