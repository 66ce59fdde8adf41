import assert from "node:assert/strict";
import { join } from "node:path";
import { type ConfigNode, readApacheConfig } from "./reader.ts";
import { siteFromApache } from "./to_site.ts";

function folder(files: Record<string, string>): string {
  const root = Deno.makeTempDirSync({ prefix: "apache-reader-" });
  for (const [name, text] of Object.entries(files)) {
    Deno.mkdirSync(join(root, name, ".."), { recursive: true });
    Deno.writeTextFileSync(join(root, name), text);
  }
  return root;
}

/** A main.conf of this text, alone in a fresh folder: its path. */
function mainConf(text: string): string {
  return join(folder({ "main.conf": text }), "main.conf");
}

function names(nodes: ConfigNode[]): string[] {
  return nodes.flatMap((node) =>
    node.kind === "section"
      ? [`<${node.name}>`, ...names(node.children)]
      : [`${node.name} ${node.args.join(" ")}`]
  );
}

Deno.test("reader: Include globs in order, IncludeOptional, Define and ${VAR} from the environment", () => {
  const root = folder({
    "main.conf": [
      "Define NAME world",
      "Include conf.d/*.conf",
      "IncludeOptional nothing/*.conf",
      "IncludeOptional missing.conf",
      "SetEnv GREETING hello-${NAME}-${DW_READER_TEST}",
      "SetEnv LEFT ${NOT_DEFINED_ANYWHERE}",
    ].join("\n"),
    "conf.d/b.conf": "SetEnv B 2",
    "conf.d/a.conf": "SetEnv A 1\nInclude sub/c.conf",
    "conf.d/sub/c.conf": "SetEnv C 3",
  });
  const read = readApacheConfig(join(root, "main.conf"), {
    env: (name) => name === "DW_READER_TEST" ? "env" : undefined,
  });
  // The nested Include is relative to the including file's folder.
  assert.deepEqual(names(read.nodes), [
    "SetEnv A 1",
    "SetEnv C 3",
    "SetEnv B 2",
    "SetEnv GREETING hello-world-env",
    "SetEnv LEFT ${NOT_DEFINED_ANYWHERE}",
  ]);
  assert.equal(read.warnings.length, 1);
  assert.equal(read.warnings[0].line, 6);
  assert.equal(read.warnings[0].directive, "${NOT_DEFINED_ANYWHERE}");
});

Deno.test("reader: PassEnv and UnsetEnv", () => {
  const conf = mainConf(`SetEnv GONE soon
WSGIScriptAlias / app.wsgi
PassEnv DW_PASSED DW_MISSING
UnsetEnv GONE`);
  const site = siteFromApache(conf, {
    env: (name) => name === "DW_PASSED" ? "passed" : undefined,
  });
  assert.deepEqual(site.mounts[0].environ, { DW_PASSED: "passed" });
  assert.deepEqual(
    site.warnings.map((w) => [w.line, w.directive]),
    [[3, "PassEnv DW_MISSING"], [0, "Listen"]],
  );
});

Deno.test("reader: another module's directive repeated in a file is one warning that counts the rest", () => {
  const conf = mainConf(`Header set A 1
Header set B 2
Header set C 3
Listen 80`);
  const site = siteFromApache(conf);
  assert.deepEqual(site.warnings.map((w) => [w.line, w.directive, w.reason]), [
    [
      1,
      "Header",
      "not emulated here (another module's directive); ignored (2 more lines in this file)",
    ],
  ]);
});

Deno.test({
  name:
    "reader: Debian's stock /etc/apache2/apache2.conf reads without an error",
  ignore: !(() => {
    try {
      return Deno.statSync("/etc/apache2/apache2.conf").isFile;
    } catch {
      return false;
    }
  })(),
  fn: () => {
    const site = siteFromApache("/etc/apache2/apache2.conf", {
      env: () => undefined,
    });
    assert.ok(site.listeners.some((listener) => listener.port === 80));
    // The stock language, icon and browser lines are boilerplate.
    assert.ok(
      !site.warnings.some((w) =>
        /^Add(Language|Charset|Icon)/.test(w.directive)
      ),
    );
    assert.ok(site.warnings.some((w) => w.directive === "User"));
  },
});

Deno.test("reader: Require ip on a mounted script's folder is never dropped silently", () => {
  const conf = mainConf(`Listen 80
WSGIScriptAlias /app app/app.wsgi
Alias /files/ files/
<Directory app>
  Require ip 10.0.0.0/8
</Directory>
<Directory files>
  Require all granted
</Directory>
<Directory elsewhere>
  Require ip 10.0.0.0/8
</Directory>`);
  const site = siteFromApache(conf);
  // Only the rule over something served is warned.
  assert.deepEqual(site.warnings.map((w) => [w.line, w.directive]), [
    [5, "Require ip 10.0.0.0/8"],
  ]);
  assert.match(
    site.warnings[0].reason,
    /access control is not applied to the script at \/app: every client reaches it/,
  );
});

Deno.test("reader: ServerRoot makes Include and paths relative to it", () => {
  const root = folder({
    "etc/main.conf": "ServerRoot ../srv\nInclude sites/x.conf",
    "srv/sites/x.conf": "WSGIScriptAlias /x app.wsgi",
  });
  const site = siteFromApache(join(root, "etc/main.conf"));
  assert.equal(site.mounts[0].script, join(root, "srv/app.wsgi"));
});

Deno.test("reader: IfModule, IfDefine, IfVersion, IfFile, with negation and -D", () => {
  const conf = mainConf(`<IfModule mod_wsgi.c>
  SetEnv A wsgi.c
</IfModule>
<IfModule wsgi_module>
  SetEnv B wsgi_module
</IfModule>
<IfModule !mod_wsgi.c>
  SetEnv C never
  <IfModule mod_rewrite.c>
  </IfModule>
</IfModule>
<IfModule !mod_rewrite.c>
  SetEnv D no-rewrite
</IfModule>
<IfModule mod_headers.c>
  Header set X y
</IfModule>
<IfDefine FROM_COMMAND_LINE>
  SetEnv E dashD
</IfDefine>
<IfDefine !LATER>
  Define LATER
</IfDefine>
<IfDefine LATER>
  SetEnv F later
</IfDefine>
<IfVersion >= 2.4>
  SetEnv G two-four
</IfVersion>
<IfVersion < 2.4>
  SetEnv H old
</IfVersion>
<IfFile main.conf>
  SetEnv I file
</IfFile>`);
  const read = readApacheConfig(conf, {
    defines: ["FROM_COMMAND_LINE"],
  });
  assert.deepEqual(names(read.nodes), [
    "SetEnv A wsgi.c",
    "SetEnv B wsgi_module",
    "SetEnv D no-rewrite",
    "SetEnv E dashD",
    "SetEnv F later",
    "SetEnv G two-four",
    "SetEnv I file",
  ]);
  // Skipping a module's section is said; the nested one inside a false
  // section is not even looked at.
  assert.deepEqual(read.warnings.map((w) => [w.line, w.directive]), [
    [15, "<IfModule mod_headers.c>"],
  ]);
});

Deno.test("reader: mistakes are one line with file:line", () => {
  const cases: [string, RegExp][] = [
    [
      "<Directory /x>\nSetEnv A 1\n",
      /main\.conf:1: <Directory> is never closed/,
    ],
    [
      "</VirtualHost>",
      /main\.conf:1: <\/VirtualHost> without matching <VirtualHost> section/,
    ],
    [
      "<Directory /x>\n</Location>",
      /main\.conf:2: <\/Location> does not close <Directory> \(opened at line 1\)/,
    ],
    [
      "\n\nInclude nowhere.conf",
      /main\.conf:3: Include: .*nowhere\.conf does not exist/,
    ],
    ["Include none/*.conf", /main\.conf:1: Include: no file matches/],
    ["Listen eighty", /main\.conf:1: Listen: expected \[address:\]port/],
    [
      "WSGIDaemonProcess x processes=two",
      /main\.conf:1: WSGIDaemonProcess: processes= must be a whole number/,
    ],
    ["WSGIScriptAlias /x", /main\.conf:1: WSGIScriptAlias needs 2 arguments/],
    ["WSGIScriptAlias /x a.wsgi process-group", /expected option=value/],
    [
      "WSGIScriptAlias /x a.wsgi proces-group=x",
      /unknown option proces-group=/,
    ],
    ["WSGIPassAuthorization maybe", /takes On or Off/],
    ["LimitRequestBody lots", /LimitRequestBody takes a number of bytes/],
    ["LogLevel loud", /LogLevel: "loud" is not a level/],
    ["Timeout soon", /main\.conf:1: Timeout: expected a number of seconds/],
    ["Timeout 300ms", /Timeout: expected a number of seconds, got "300ms"/],
    [
      "KeepAliveTimeout 2s",
      /KeepAliveTimeout: expected a number of seconds \(or NNNms\)/,
    ],
    [
      "RequestReadTimeout header=soon",
      /RequestReadTimeout: expected header=, body= or handshake=/,
    ],
    ["MaxRequestWorkers 0", /MaxRequestWorkers: expected a whole number/],
    [
      "WSGIScriptAlias /x a.wsgi\nWSGIProcessGroup ghost",
      /main\.conf:2: WSGIProcessGroup: no WSGIDaemonProcess named "ghost"/,
    ],
    [
      "WSGIDaemonProcess a\nWSGIDaemonProcess a",
      /main\.conf:2: WSGIDaemonProcess: name "a" duplicates/,
    ],
    [
      "<VirtualHost *:80>\nListen 80\n</VirtualHost>",
      /main\.conf:2: Listen is not allowed inside <VirtualHost>/,
    ],
    [
      "<Location /x>\nErrorLog x.log\n</Location>",
      /main\.conf:2: ErrorLog is not allowed inside <Location>/,
    ],
    [
      "<Directory /x>\nWSGIScriptAlias / a.wsgi\n</Directory>",
      /main\.conf:2: WSGIScriptAlias is not allowed inside <Directory>/,
    ],
    [
      "<VirtualHost *:443>\nSSLEngine on\n</VirtualHost>",
      /main\.conf:2: SSLEngine on .* needs SSLCertificateFile/,
    ],
    ["Include main.conf", /nested 32 deep/],
    [
      "Listen 80\nListen 0.0.0.0:80",
      /main\.conf:2: Listen: 0\.0\.0\.0:80 is already listened on/,
    ],
    [
      "WSGIDaemonProcess a threads=0",
      /main\.conf:1: WSGIDaemonProcess: threads= must be at least 1/,
    ],
    [
      "<VirtualHost *:81>\nWSGIDaemonProcess mine\n</VirtualHost>\n<VirtualHost *:82>\nWSGIScriptAlias / a.wsgi process-group=mine\n</VirtualHost>",
      /main\.conf:5: WSGIProcessGroup: the daemon process group "mine" is defined in another <VirtualHost>/,
    ],
  ];
  for (const [text, expected] of cases) {
    const conf = mainConf(text);
    assert.throws(
      () => siteFromApache(conf),
      (error: Error) => {
        assert.match(error.message, expected);
        assert.ok(!error.message.includes("\n"), error.message);
        return true;
      },
      text,
    );
  }
});

Deno.test("reader: WSGIDaemonProcess memory-limit= is the group's memoryLimit", () => {
  const limits = (line: string) => {
    const site = siteFromApache(
      mainConf(`Listen 80\n${line}\nWSGIScriptAlias / a.wsgi process-group=a`),
    );
    return {
      memoryLimit: site.groups.a.memoryLimit,
      warnings: site.warnings.map((w) => w.directive),
    };
  };
  assert.deepEqual(limits("WSGIDaemonProcess a memory-limit=268435456"), {
    memoryLimit: 268435456,
    warnings: [],
  });
  // Apache honours a small limit, so it is raised, not refused.
  assert.deepEqual(limits("WSGIDaemonProcess a memory-limit=1000000"), {
    memoryLimit: 64 * 1024 * 1024,
    warnings: ["WSGIDaemonProcess memory-limit="],
  });
  assert.deepEqual(limits("WSGIDaemonProcess a memory-limit=8589934592"), {
    memoryLimit: 0,
    warnings: [],
  });
});
