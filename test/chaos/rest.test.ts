import { expect, test } from "bun:test";
import { REST_PLANTED, runRestSeed } from "../../chaos/rest-run.ts";

/**
 * A few REST seeds of the fault tester, one per API shape (the long run is
 * `bun run chaos/rest-index.ts --seeds 200`), and each planted mapping mistake caught.
 * Earlier schedules found three bugs, each now with a deterministic test (README "Fault
 * testing"): src/sync/rest/push.ts (a 404 on a duplicate another client repaired away),
 * pull.ts (a reader sending its stale copy to the kept item) and feed.ts (page numbers over a
 * list updated while it is read).
 */
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

for (const seed of SEEDS) {
  test(`REST seed ${seed}: no violations`, async () => {
    const r = await runRestSeed(seed);
    expect(r.violations.map((v) => `[${v.rule}] ${v.message}`)).toEqual([]);
  }, 120_000);
}

for (const planted of REST_PLANTED) {
  test(`planted ${planted}: caught`, async () => {
    const found = [];
    for (const seed of [1, 2, 3, 4]) found.push(...(await runRestSeed(seed, planted)).violations);
    expect(found.length).toBeGreaterThan(0);
  }, 120_000);
}
