/**
 * python/compat.py through the gateway: host-compiled extension modules are
 * explained in the log, applications run without a running asyncio loop,
 * and hashlib.pbkdf2_hmac / hashlib.scrypt give CPython's results.
 */

import assert from "node:assert/strict";
import { createRouter, defineGroup, mountWsgi } from "../mod.ts";
import { appPath, collectLogs, serve } from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

async function python(code: string, input = ""): Promise<string> {
  const child = new Deno.Command("python3", {
    args: ["-c", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  assert.ok(
    success,
    `host python3 failed: ${new TextDecoder().decode(stderr)}`,
  );
  return new TextDecoder().decode(stdout);
}

/** A real extension module of the host's CPython, to copy into fake packages. */
async function hostExtension(): Promise<string> {
  const path = (await python(
    "import glob, sysconfig\n" +
      "print(sorted(glob.glob(sysconfig.get_config_var('DESTSHARED') + '/*.so'))[0])",
  )).trim();
  assert.match(path, /\.so$/, "the host python3 has no extension modules");
  return path;
}

/** Packages as a pip install on the host leaves them, with host binaries. */
async function makePackages(folder: string, so: string): Promise<string> {
  const tag = so.match(/\.(cpython-[^/]*\.so)$/)?.[1] ??
    "cpython-311-x86_64-linux-gnu.so";
  const write = async (path: string, text: string) => {
    await Deno.mkdir(`${folder}/${path.slice(0, path.lastIndexOf("/"))}`, {
      recursive: true,
    });
    await Deno.writeTextFile(`${folder}/${path}`, text);
  };
  // A relative import of a sibling built for the host's CPython.
  await write("hostext_a/__init__.py", "from . import fake\n");
  await Deno.copyFile(so, `${folder}/hostext_a/fake.${tag}`);
  // An absolute import of one.
  await write("hostext_b/__init__.py", "from hostext_b._speedups import f\n");
  await Deno.copyFile(so, `${folder}/hostext_b/_speedups.${tag}`);
  // A suffix Pyodide accepts (abi3), but an ELF file inside.
  await write("hostext_c/__init__.py", "from . import fast\n");
  await Deno.copyFile(so, `${folder}/hostext_c/fast.abi3.so`);
  // A host-compiled database driver: the message names the pure-Python one.
  await write(
    "psycopg2/__init__.py",
    "from psycopg2._psycopg import connect\n",
  );
  await Deno.copyFile(so, `${folder}/psycopg2/_psycopg.${tag}`);
  // A package that falls back to pure Python, as MarkupSafe does.
  await write(
    "hostext_fallback/__init__.py",
    "try:\n    from ._speedups import f\nexcept ImportError:\n    f = len\n",
  );
  await Deno.copyFile(so, `${folder}/hostext_fallback/_speedups.${tag}`);
  // A .dist-info, so the log can name the distribution and its version.
  await write(
    "hostext_a-1.2.3.dist-info/METADATA",
    "Metadata-Version: 2.1\nName: hostext-a\nVersion: 1.2.3\n",
  );
  await write(
    "hostext_a-1.2.3.dist-info/RECORD",
    `hostext_a/__init__.py,,\nhostext_a/fake.${tag},,\n`,
  );
  await write("hostext_a-1.2.3.dist-info/top_level.txt", "hostext_a\n");
  return tag;
}

const PBKDF2_CASES: [string, string, string, number, number | null][] = [
  ["sha256", "70617373776f7264", "73616c74", 1, null],
  ["sha256", "70617373776f7264", "73616c74", 4096, 32],
  ["SHA256", "", "", 2, 10],
  ["sha1", "70617373776f7264", "73616c74", 4096, 20],
  ["sha1", "70617373776f7264", "73616c74", 2, 100],
  ["sha512", "ff".repeat(200), "00", 1000, null],
  ["sha224", "01", "02", 3, null],
  ["sha384", "01", "02", 3, 7],
  ["sha3_256", "70617373776f7264", "73616c74", 10, null],
  ["sha3_512", "70617373776f7264", "73616c74", 10, 80],
  ["md5", "70617373776f7264", "73616c74", 10, null],
  ["blake2b", "70617373776f7264", "73616c74", 10, null],
  ["blake2s", "70617373776f7264", "73616c74", 10, null],
  ["sha512_256", "70617373776f7264", "73616c74", 10, null],
  // Django 5.2's default password hasher: PBKDF2-SHA256, 1,000,000 rounds.
  ["sha256", "73336372337421", "6a5a4f6b4e3266", 1_000_000, null],
  ["sha256", "70", "73", 0, null],
  ["sha256", "70", "73", 1, 0],
  ["no-such-hash", "70", "73", 1, null],
];

const PBKDF2_PY = `
import hashlib, json, sys
out = []
for name, password, salt, iterations, dklen in json.load(sys.stdin):
    try:
        out.append(hashlib.pbkdf2_hmac(name, bytes.fromhex(password),
            bytes.fromhex(salt), iterations, dklen).hex())
    except Exception as error:
        out.append("%s: %s" % (type(error).__name__, error))
print(json.dumps(out))
`;

let cpythonResults: Promise<[string[], string]> | undefined;

/** CPython's answers for the same inputs, from the host's python3. */
function cpython(): Promise<[string[], string]> {
  cpythonResults ??= Promise.all([
    python(PBKDF2_PY, JSON.stringify(PBKDF2_CASES)).then((text) =>
      JSON.parse(text) as string[]
    ),
    python(
      "import hashlib; print(hashlib.scrypt(b'password', salt=b'NaCl', n=1024, r=8, p=16).hex())",
    ).then((text) => text.trim()),
  ]);
  return cpythonResults;
}

for (const processes of [1, 0]) {
  const mode = processes ? "worker" : "embedded";
  Deno.test({
    name: `compat (${mode}): hashlib and asyncio as applications need them`,
    ...options,
    fn: async (t) => {
      const group = defineGroup(`compat-${mode}`, { processes });
      const router = createRouter();
      mountWsgi(router, "/c", appPath("compat_app.wsgi"), { group });
      await group.ready();
      const server = serve(router.fetch);
      try {
        const [expected, expectedScrypt] = await cpython();
        await t.step(
          "pbkdf2_hmac gives CPython's results and errors",
          async () => {
            const started = performance.now();
            const response = await fetch(`${server.base}/c/pbkdf2`, {
              method: "POST",
              body: JSON.stringify(PBKDF2_CASES),
            });
            assert.equal(response.status, 200);
            const got = await response.json() as string[];
            const elapsed = performance.now() - started;
            PBKDF2_CASES.forEach((testCase, i) => {
              if (/^[0-9a-f]+$/.test(expected[i])) {
                assert.equal(
                  got[i],
                  expected[i],
                  `pbkdf2_hmac${JSON.stringify(testCase)}`,
                );
              } else {
                // Same exception type as CPython's (messages may differ).
                assert.equal(
                  got[i].split(":")[0],
                  expected[i].split(":")[0],
                  `error of pbkdf2_hmac${JSON.stringify(testCase)}: ${got[i]}`,
                );
              }
            });
            // 1,000,000 rounds in pure Python take about 6 s: node:crypto did it.
            assert.ok(elapsed < 5_000, `pbkdf2 took ${elapsed} ms`);
          },
        );

        await t.step("scrypt gives CPython's result", async () => {
          const scrypt = await (await fetch(`${server.base}/c/scrypt`)).json();
          assert.equal(scrypt, expectedScrypt);
          // RFC 7914's test vector.
          assert.match(scrypt, /^fdbabe1c9d3472007856e7190d01e9fe/);
        });

        await t.step("threads and subprocesses fail, saying why", async () => {
          const limits = await (await fetch(`${server.base}/c/limits`)).json();
          assert.match(limits.thread, /^RuntimeError: can't start new thread/);
          assert.match(limits.thread, /no OS threads/);
          assert.match(limits.thread, /threads option/);
          assert.match(limits.subprocess, /^OSError: .*not support processes/);
        });

        await t.step("applications see no running asyncio loop", async () => {
          // Pyodide marks its WebLoop as running; Django would refuse the ORM.
          for (const path of ["/c/loop", "/c/stream-loop", "/c/loop"]) {
            const response = await fetch(`${server.base}${path}`);
            assert.deepEqual(await response.json(), { running: false }, path);
          }
        });
      } finally {
        await server.close();
        await group.shutdown();
      }
    },
  });
}

Deno.test({
  name: "compat: host-compiled extension modules are named in the log",
  ...options,
  fn: async () => {
    const logs = collectLogs();
    const folder = await Deno.makeTempDir({ prefix: "compat-packages-" });
    const so = await hostExtension();
    const tag = await makePackages(folder, so);
    const group = defineGroup("compat-hostext", {
      processes: 1,
      pythonPath: [folder],
    });
    const router = createRouter();
    mountWsgi(router, "/c", appPath("compat_app.wsgi"), { group });
    mountWsgi(router, "/broken", appPath("compat_hostext.wsgi"), { group });
    await group.ready();
    const server = serve(router.fetch);
    try {
      // The script fails to load: 500, and the log says what and why.
      const broken = await fetch(`${server.base}/broken/`);
      assert.equal(broken.status, 500);
      await broken.body?.cancel();
      const log = logs.text();
      assert.match(
        log,
        /package 'hostext_a' \(hostext-a 1\.2\.3\) needs a Pyodide build/,
      );
      assert.ok(log.includes(`hostext_a/fake.${tag}`), log);
      assert.match(log, /compiled for the host \(CPython 3\.\d+, ELF /);
      assert.match(log, /WebAssembly cannot load it/);

      const importOf = async (module: string) =>
        await (await fetch(`${server.base}/c/import?${module}`)).json();
      const absolute = await importOf("hostext_b");
      assert.equal(absolute.ok, false);
      assert.equal(absolute.type, "HostExtensionNotFoundError");
      assert.match(absolute.text, /package 'hostext_b' needs a Pyodide build/);
      assert.ok(absolute.text.includes(`_speedups.${tag}`));

      const elf = await importOf("hostext_c");
      assert.equal(elf.ok, false);
      assert.match(elf.text, /package 'hostext_c' needs a Pyodide build/);
      assert.match(elf.text, /fast\.abi3\.so/);

      const driver = await importOf("psycopg2");
      assert.equal(driver.ok, false);
      assert.match(driver.text, /package 'psycopg2' needs a Pyodide build/);
      assert.match(
        driver.text,
        /Use the pure-Python driver pg8000 \(SQLAlchemy: postgresql\+pg8000:\/\/\)/,
      );

      // Fallbacks to pure Python keep working.
      assert.deepEqual(await importOf("hostext_fallback"), { ok: true });
    } finally {
      logs.stop();
      await server.close();
      await group.shutdown();
      await Deno.remove(folder, { recursive: true });
    }
  },
});

Deno.test({
  name: "compat: a package only Pyodide's CDN has is explained, not awaited",
  ...options,
  fn: async () => {
    const logs = collectLogs();
    const folder = await Deno.makeTempDir({ prefix: "compat-numpy-" });
    await Deno.writeTextFile(
      `${folder}/app.wsgi`,
      "import numpy\n\ndef application(environ, start_response):\n    pass\n",
    );
    const group = defineGroup("compat-numpy", { processes: 0 });
    const router = createRouter();
    mountWsgi(router, "/n", `${folder}/app.wsgi`, { group });
    await group.ready();
    const server = serve(router.fetch);
    try {
      const response = await fetch(`${server.base}/n/`);
      assert.equal(response.status, 500);
      await response.body?.cancel();
      assert.match(
        logs.text(),
        /No module named 'numpy': Pyodide ships it as its package 'numpy'.*not reachable here/,
      );
    } finally {
      logs.stop();
      await server.close();
      await group.shutdown();
      await Deno.remove(folder, { recursive: true });
    }
  },
});
