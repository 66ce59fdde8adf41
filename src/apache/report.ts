/**
 * How the Apache reader reports: a warning for what it cannot honour (once
 * per line and reason), an ApacheConfigError for what Apache would refuse.
 *
 * @module
 */

import { ApacheConfigError } from "./lexer.ts";
import type { SiteWarning } from "../site.ts";

/** Adds a warning unless the same one is already there. */
export function warn(
  collected: { warnings: SiteWarning[] },
  node: { file: string; line: number },
  directive: string,
  reason: string,
) {
  const known = collected.warnings.some((warning) =>
    warning.file === node.file && warning.line === node.line &&
    warning.directive === directive && warning.reason === reason
  );
  if (!known) {
    collected.warnings.push({
      file: node.file,
      line: node.line,
      directive,
      reason,
    });
  }
}

/** Stops reading: "file:line: reason". */
export function fail(
  node: { file: string; line: number },
  reason: string,
): never {
  throw new ApacheConfigError(node.file, node.line, reason);
}

/**
 * Stops reading unless `node` has `least` to `most` arguments (`most`
 * Infinity: at least `least`), with Apache's wording for each.
 */
export function argumentCount(
  node: { name: string; args: string[]; file: string; line: number },
  least: number,
  most = least,
) {
  const got = node.args.length;
  if (got >= least && got <= most) return;
  const [verb, shown] = most === Infinity ? ["needs", least] : ["takes", most];
  const wanted = verb === "needs" || least === most
    ? `${least}`
    : `${least} to ${most}`;
  fail(
    node,
    `${node.name} ${verb} ${wanted} argument${
      shown === 1 ? "" : "s"
    }, got ${got}`,
  );
}
