/**
 * The server's process tree as /proc shows it (Linux): its child
 * processes, and the CPU time of the whole tree, for tests that check
 * that Python really stopped.
 *
 * @module
 */

import { cpuUsage } from "node:process";

/** Processes below this one (child processes of workers, and theirs). */
export function descendants(root = Deno.pid): number[] {
  const parents = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(Number(entry.name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent === pid) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return found;
}

/** CPU time (ms) of this process and every process below it. */
export function treeCpuMillis(): number {
  const usage = cpuUsage();
  let total = (usage.user + usage.system) / 1000;
  for (const pid of descendants()) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** CPU (ms) the process tree uses over the next `ms`. */
export async function cpuOver(ms: number): Promise<number> {
  const before = treeCpuMillis();
  await sleep(ms);
  return treeCpuMillis() - before;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
