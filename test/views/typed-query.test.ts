import { expect, test } from "bun:test";
import { join } from "node:path";

// One tsc run over a two-file fixture: ok.ts (a typed join with an aggregate) must compile,
// bad.ts (the same join naming a column that does not exist) must fail on that column.
test("a typed Kysely join over two collections' views type-checks, and a wrong column name fails tsc", () => {
  const root = join(import.meta.dir, "../..");
  const r = Bun.spawnSync([join(root, "node_modules/.bin/tsc"), "--noEmit", "-p", join(import.meta.dir, "fixtures/typed")], { cwd: root });
  const out = r.stdout.toString() + r.stderr.toString();
  const errorLines = out.split("\n").filter((l) => /error TS\d+/.test(l));
  expect(errorLines.filter((l) => !l.includes("bad.ts"))).toEqual([]); // ok.ts compiles
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toContain("bad.ts(13,");
  expect(errorLines[0]).toContain("error TS2769");
  expect(out).toContain(`Type '"people.teem"' is not assignable`);
  expect(out).toContain(`Did you mean '"people.team"'?`);
  expect(r.exitCode).toBe(2);
}, 120_000);
