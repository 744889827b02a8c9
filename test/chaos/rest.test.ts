import { expect, test } from "bun:test";
import { REST_PLANTED, runRestSeed } from "../../chaos/rest-run.ts";

/**
 * A few REST seeds of the fault tester, one per API shape (the long run is
 * `bun run chaos/rest-index.ts --seeds 200`), and each planted mapping mistake caught.
 * The first 200-seed run (before writes during syncs were added to the schedules) found the
 * two bugs fixed in src/sync/rest/push.ts (a 404 on a duplicate another client repaired away;
 * test/rest/verification.test.ts has a deterministic test) and pull.ts (a reader sending its
 * stale copy to the kept item).
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
