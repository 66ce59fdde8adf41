import { pruneSnapshots } from "./snapshot_save.ts";

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

Deno.test("pruning keeps the newest snapshots and drops stale temporary files", () => {
  const folder = Deno.makeTempDirSync();
  for (let i = 0; i < 5; i++) {
    const path = `${folder}/${i}.snapshot`;
    Deno.writeFileSync(path, new Uint8Array(1));
    Deno.utimeSync(path, 1000 + i, 1000 + i);
  }
  Deno.writeFileSync(`${folder}/old.part`, new Uint8Array(1));
  Deno.utimeSync(`${folder}/old.part`, 1000, 1000);
  Deno.writeFileSync(`${folder}/fresh.part`, new Uint8Array(1));
  pruneSnapshots(folder, 2);
  const left = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
  assert(
    JSON.stringify(left) ===
      JSON.stringify(["3.snapshot", "4.snapshot", "fresh.part"]),
    left.join(" "),
  );
  Deno.removeSync(folder, { recursive: true });
});
