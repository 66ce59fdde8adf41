import assert from "node:assert/strict";
import {
  isInside,
  pathSegments,
  realPathInside,
  resolveInsideRoot,
} from "./containment.ts";

/** A real folder tree with symlinks in and out of the root. */
async function fixture(): Promise<{ root: string; outside: string }> {
  const base = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "containment-" }),
  );
  const root = `${base}/root`;
  const outside = `${base}/root-outside`;
  await Deno.mkdir(`${root}/sub`, { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(`${root}/sub/page.html`, "inside\n");
  await Deno.writeTextFile(`${outside}/secret`, "outside\n");
  await Deno.symlink(`${outside}/secret`, `${root}/leak.txt`);
  // A sibling whose name starts with the root's: not inside it.
  await Deno.symlink(outside, `${root}/leak-dir`);
  await Deno.symlink(`${root}/sub/page.html`, `${root}/page-link.html`);
  await Deno.symlink(`${root}/sub`, `${root}/sub-link`);
  await Deno.symlink(`${root}/leak-dir`, `${root}/via-inside`);
  return { root, outside };
}

Deno.test("containment: segments decode one by one and cannot climb or smuggle separators", () => {
  assert.deepEqual(pathSegments("/a/b%20c/", false), ["a", "b c"]);
  assert.deepEqual(pathSegments("", false), []);
  assert.deepEqual(pathSegments("//a//b", false), ["a", "b"]);
  for (
    const refused of [
      "/..",
      "/a/%2e%2e/b",
      "/%2E",
      "/a%2fb",
      "/a%5cb",
      "/a\\b",
      "/a%00",
      "/.env",
      "/sub/%2egit/config",
    ]
  ) {
    assert.equal(pathSegments(refused, false), 404, refused);
  }
  assert.equal(pathSegments("/bad%zz", false), 400);
  assert.equal(pathSegments("/%c3", false), 400);
  assert.deepEqual(pathSegments("/.well-known/x", true), [".well-known", "x"]);
  assert.equal(pathSegments("/..", true), 404);
});

Deno.test("containment: isInside compares whole path segments", () => {
  assert.equal(isInside("/srv/root", "/srv/root"), true);
  assert.equal(isInside("/srv/root", "/srv/root/a"), true);
  assert.equal(isInside("/srv/root/", "/srv/root/a"), true);
  assert.equal(isInside("/srv/root", "/srv/root-outside/a"), false);
  assert.equal(isInside("/srv/root", "/srv"), false);
});

Deno.test("containment: symlinks inside the root resolve, those leading out are refused", async () => {
  const { root, outside } = await fixture();
  try {
    const page = resolveInsideRoot(root, ["sub", "page.html"]);
    assert.notEqual(typeof page, "number");
    assert.equal((page as { path: string }).path, `${root}/sub/page.html`);
    const linked = resolveInsideRoot(root, ["page-link.html"]);
    assert.equal((linked as { path: string }).path, `${root}/sub/page.html`);
    const viaFolder = resolveInsideRoot(root, ["sub-link", "page.html"]);
    assert.equal((viaFolder as { path: string }).path, `${root}/sub/page.html`);
    const top = resolveInsideRoot(root, []);
    assert.equal((top as { info: Deno.FileInfo }).info.isDirectory, true);

    assert.equal(resolveInsideRoot(root, ["leak.txt"]), 404);
    assert.equal(resolveInsideRoot(root, ["leak-dir", "secret"]), 404);
    assert.equal(resolveInsideRoot(root, ["via-inside", "secret"]), 404);
    assert.equal(resolveInsideRoot(root, ["missing"]), 404);

    assert.equal(
      realPathInside(root, `${root}/sub`, "page.html"),
      `${root}/sub/page.html`,
    );
    assert.equal(realPathInside(root, root, "leak.txt"), null);
    assert.equal(realPathInside(root, root, "missing"), null);
  } finally {
    await Deno.remove(`${outside}/..`, { recursive: true });
  }
});
