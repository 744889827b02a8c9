import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

/**
 * The local store owns its tables (issue 33): transports (src/sync/) call the store's API
 * (src/store/outbox.ts, server-docs.ts, rebase.ts, pull-stage.ts, refresh-records.ts,
 * conflicts.ts, sync-meta.ts, own-top.ts, id-map.ts) and name no `_stowage_*` table, not even
 * in a comment. dependency-cruiser sees imports only, so this reads the text.
 */
const ROOT = join(import.meta.dir, "..", "..");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : [];
  });
}

test("no file under src/sync names a _stowage_ table", () => {
  const offenders: string[] = [];
  for (const file of files(join(ROOT, "src", "sync"))) {
    readFileSync(file, "utf8").split("\n").forEach((line, i) => {
      if (line.includes("_stowage_")) offenders.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  if (offenders.length) console.log(`_stowage_ in src/sync (move the SQL into src/store/):\n${offenders.join("\n")}`);
  expect(offenders).toEqual([]);
});
