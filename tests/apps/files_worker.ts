/**
 * A Web Worker for tests/files_test.ts: one Pyodide interpreter with
 * python/files.py installed, as a gateway worker has it, that inserts rows
 * into a shared SQLite file, each insert in its own transaction.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { loadPyodide } from "pyodide";

/** What the test sends. */
export interface InsertJob {
  id: number;
  folders: string[];
  writable: string[];
  database: string;
  rows: number;
  /** False runs without the lock (the original sqlite3.connect). */
  lock: boolean;
  /** Both workers count up here, then start together. */
  barrier: SharedArrayBuffer;
}

/** What the worker answers. */
export interface InsertResult {
  id: number;
  inserted: number;
  errors: string[];
  seconds: number;
}

// Read in the handler, not at the top level: a message that arrives while
// the module still awaits finds no handler and is lost.
const source = Deno.readTextFile(
  new URL("../../python/files.py", import.meta.url),
);

self.onmessage = async (event: MessageEvent<InsertJob>) => {
  const job = event.data;
  const pyodide = await loadPyodide();
  for (const folder of job.folders) {
    pyodide.FS.mkdirTree(folder);
    pyodide.mountNodeFS(folder, folder);
  }
  pyodide.FS.mkdirTree("/deno_wsgi");
  pyodide.FS.writeFile("/deno_wsgi/files.py", await source);
  // time.sleep as the gateway has it: waits without spinning.
  const flag = new Int32Array(new SharedArrayBuffer(4));
  pyodide.globals.set(
    "host_sleep",
    (seconds: number) => Atomics.wait(flag, 0, 0, seconds * 1000),
  );
  pyodide.globals.set("job", pyodide.toPy({ ...job, barrier: undefined }));
  pyodide.runPython(`
import sys, time
sys.path.insert(0, "/deno_wsgi")
import files
files.install(job["writable"], {}, {})
time.sleep = lambda seconds: host_sleep(seconds) and None
`);
  const count = new Int32Array(job.barrier);
  Atomics.add(count, 0, 1);
  Atomics.notify(count, 0);
  while (Atomics.load(count, 0) < 2) {
    Atomics.wait(count, 0, Atomics.load(count, 0), 50);
  }
  const result = pyodide.runPython(`
import json, sqlite3, time
connect = files.connect if job["lock"] else files._original_connect
connection = connect(job["database"], timeout=30)
errors = []
inserted = 0
start = time.monotonic()
for n in range(job["rows"]):
    try:
        with connection:
            connection.execute(
                "INSERT INTO t (worker, n) VALUES (?, ?)", (job["id"], n)
            )
        inserted += 1
    except sqlite3.Error as error:
        errors.append(repr(error))
connection.close()
json.dumps([inserted, errors, time.monotonic() - start])
`) as string;
  const [inserted, errors, seconds] = JSON.parse(result);
  const answer: InsertResult = { id: job.id, inserted, errors, seconds };
  self.postMessage(answer);
};
