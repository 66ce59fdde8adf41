/**
 * The optional HTML listing of a folder, like Apache's `Options Indexes`.
 *
 * @module
 */

import { join } from "node:path";

/** One name in a folder. */
export interface ListingEntry {
  name: string;
  /** A folder, or a symlink that leads to one: its link ends in "/". */
  isDirectory: boolean;
}

/**
 * The entries of a folder, sorted by name; dotfiles left out unless
 * `dotfiles`, and symlinks that lead nowhere left out.
 */
export async function listFolder(
  folder: string,
  dotfiles: boolean,
): Promise<ListingEntry[]> {
  const entries: ListingEntry[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (!dotfiles && entry.name.startsWith(".")) continue;
    let isDirectory = entry.isDirectory;
    if (entry.isSymlink) {
      try {
        isDirectory = (await Deno.stat(join(folder, entry.name))).isDirectory;
      } catch {
        continue;
      }
    }
    entries.push({ name: entry.name, isDirectory });
  }
  return entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** How a listing page is titled and linked. */
export interface ListingPageOptions {
  /** The folder's URL path, still percent-encoded; shown decoded. */
  urlPath: string;
  /** Whether to link "../" (not at the alias's own root). */
  parent: boolean;
}

/**
 * The HTML page listing `entries`: names HTML-escaped, links
 * percent-encoded and relative, so they work under any prefix.
 */
export function listingPage(
  entries: ListingEntry[],
  options: ListingPageOptions,
): string {
  const links = entries.map(({ name, isDirectory }) => {
    const suffix = isDirectory ? "/" : "";
    const href = escapeHtml(`./${encodeURIComponent(name)}${suffix}`);
    return `<li><a href="${href}">${escapeHtml(name + suffix)}</a></li>`;
  });
  if (options.parent) links.unshift('<li><a href="../">../</a></li>');
  let shownPath = options.urlPath;
  try {
    shownPath = decodeURIComponent(shownPath);
  } catch {
    // keep it encoded
  }
  const title = escapeHtml(`Index of ${shownPath}`);
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>
<ul>
${links.join("\n")}
</ul>
</body></html>
`;
}
