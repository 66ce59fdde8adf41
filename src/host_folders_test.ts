import assert from "node:assert/strict";
import { caBundleFolders } from "./host_folders.ts";

Deno.test("CA bundles named by the environment are mapped by their folder", () => {
  const folder = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${folder}/bundle.pem`, "-----BEGIN CERTIFICATE-----");
  const found = caBundleFolders({
    REQUESTS_CA_BUNDLE: `${folder}/bundle.pem`,
    CURL_CA_BUNDLE: `${folder}/missing.pem`,
    SSL_CERT_FILE: "relative.pem",
    PATH: "/usr/bin",
  });
  assert.deepEqual([...found], [[folder, "$REQUESTS_CA_BUNDLE"]]);
  Deno.removeSync(folder, { recursive: true });
});
