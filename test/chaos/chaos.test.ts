import { describe, expect, test } from "bun:test";
import { FAKETIME, runSeed, type RunResult } from "../../chaos/run.ts";
import { describeSchedule, type Store } from "../../chaos/schedule.ts";
import { pgAvailable } from "../helpers/pg.ts";

/**
 * A few short seeds of the random fault tester on each server store (the long runs are
 * `bun run chaos --seeds 1000`). Each seed starts real server and client processes, kills
 * them, drops and duplicates requests, partitions, skews clocks and forces resets, then checks
 * the whole history (chaos/check.ts). A failure prints the schedule and the replay command.
 */
const SQLITE_SEEDS = [1, 2, 3, 4, 5];
const PG_SEEDS = [1, 2, 3];
/** Seeds whose two server instances connect through PgBouncer in transaction mode (scripts/ci-pg-extras.sh). */
const POOLER_SEEDS = [4, 5];
const BOUNCER = process.env.STOWAGE_TEST_PGBOUNCER_URL;
const pg = await pgAvailable("chaos seeds on PostgreSQL");
if (!FAKETIME) {
  if (process.env.CI === "true") throw new Error("chaos seeds: libfaketime is missing (apt-get install faketime); CI skews clocks with it");
  console.warn("chaos seeds: libfaketime is not installed, so client clock skew uses the engine's injected clock and servers run unskewed");
}
/**
 * Tombstone GC faults found two bugs outside issue 13's four, both fixed: after a purge, a
 * scan from the start whose pages ended below the horizon was answered `reset` after every page
 * (src/server/pull.ts, test/sync/resync-after-gc.test.ts); and gc forgot recorded refusals by
 * age, so a refused op whose answer was lost, resent after the purge, was answered `duplicate`
 * (now kept until the client reports it settled: src/server/gc.ts, test/server/suite-push.ts;
 * seeds 199 and 216 of `bun run chaos --short` showed it). STOWAGE_CHAOS_GC=0 leaves GC out.
 */
const gc = process.env.STOWAGE_CHAOS_GC !== "0";

function report(r: RunResult): string {
  return [describeSchedule(r.schedule), ...r.violations.map((v) => `[${v.rule}] ${v.message}`), `replay: bun run chaos --seed ${r.seed} --store ${r.store} --short${gc ? "" : " --no-gc"}`].join("\n");
}

async function seed(store: Store, n: number, pgServerUrl?: string): Promise<void> {
  const r = await runSeed({ seed: n, store, short: true, gc, pgServerUrl });
  if (r.violations.length) console.error(report(r));
  expect(r.violations.map((v) => `[${v.rule}] ${v.message}`)).toEqual([]);
  // The run did real work: ops were acknowledged and the fault phase happened.
  expect(r.stats.ops).toBeGreaterThan(0);
}

describe("chaos seeds on SQLite", () => {
  for (const n of SQLITE_SEEDS) test(`seed ${n}`, () => seed("sqlite", n), 120_000);
});

describe.skipIf(!pg)("chaos seeds on PostgreSQL (two server instances)", () => {
  for (const n of PG_SEEDS) test(`seed ${n}`, () => seed("postgres", n), 120_000);
});

describe.skipIf(!pg || !BOUNCER)("chaos seeds on PostgreSQL through PgBouncer (transaction mode)", () => {
  for (const n of POOLER_SEEDS) test(`seed ${n}`, () => seed("postgres", n, BOUNCER), 120_000);
});
