import assert from "node:assert/strict";
import { listFolder, listingPage } from "./listing.ts";

Deno.test("listing: names sorted, dotfiles hidden unless asked, links to folders end in '/'", async () => {
  const folder = await Deno.makeTempDir({ prefix: "listing-" });
  try {
    await Deno.mkdir(`${folder}/b-folder`);
    await Deno.writeTextFile(`${folder}/a.txt`, "a");
    await Deno.writeTextFile(`${folder}/.env`, "secret");
    await Deno.symlink(`${folder}/b-folder`, `${folder}/c-link`);
    await Deno.symlink(`${folder}/missing`, `${folder}/dangling`);
    assert.deepEqual(await listFolder(folder, false), [
      { name: "a.txt", isDirectory: false },
      { name: "b-folder", isDirectory: true },
      { name: "c-link", isDirectory: true },
    ]);
    assert.deepEqual(
      (await listFolder(folder, true)).map((entry) => entry.name),
      [".env", "a.txt", "b-folder", "c-link"],
    );
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("listing: names are HTML-escaped, links percent-encoded, the title decoded", () => {
  const page = listingPage([
    { name: `a <b>&'".txt`, isDirectory: false },
    { name: "sub dir", isDirectory: true },
  ], { urlPath: "/media/caf%C3%A9/", parent: true });
  assert.match(page, /<title>Index of \/media\/café\/<\/title>/);
  assert.match(page, /<li><a href="\.\.\/">\.\.\/<\/a><\/li>/);
  assert.match(
    page,
    /href="\.\/a%20%3Cb%3E%26&#39;%22\.txt">a &#60;b&#62;&#38;&#39;&#34;\.txt</,
  );
  assert.match(page, /href="\.\/sub%20dir\/">sub dir\/</);
  assert.doesNotMatch(page, /<b>/);
  const top = listingPage([], { urlPath: "/bad%zz/", parent: false });
  assert.match(top, /Index of \/bad%zz\//);
  assert.doesNotMatch(top, /\.\.\//);
});
