import { afterAll, describe, expect, test } from "bun:test";
import { PLANTED, plantedRoot } from "../../chaos/planted.ts";
import { FAKETIME, runSeed } from "../../chaos/run.ts";

/**
 * Each planted bug (a patched copy of the source, chaos/planted.ts) must be caught by the
 * checker, by the rule that names it.
 *
 * Timing between processes is real, so one run of a seed can miss a bug that the seed usually
 * exposes (the first version of this test tried six different seeds once each and missed
 * about one run in 200). Here each case cycles through seeds that caught its bug in (nearly)
 * every measured run, in turn until one catches it, at most RUNS runs. Measured on the shared
 * 2-core machine under load, runs of the listed seeds (issue 32's closing note has the table):
 * reapply-duplicates 16/16, timestamp-order 18/18, split-groups 11/12,
 * pull-overwrites-pending 9/12, settle-next-batch 16/16 (with the `bursts` focus; without it
 * 5 of 16 seeds caught it). Even at a per-run catch rate of 0.4, well under the lowest
 * measured (0.75), RUNS = 30 leaves a miss probability of 0.6^30 ≈ 2·10⁻⁷, under one in a
 * million. A healthy checker stops at the first or second run, so CI time grows only when
 * something is wrong.
 */
const RUNS = 30;

const CASES: { name: keyof typeof PLANTED; rules: string[]; seeds: number[] }[] = [
  { name: "reapply-duplicates", rules: ["count", "once"], seeds: [1, 3, 6, 7] },
  // Needs two server processes whose clocks disagree: libfaketime (CI installs it).
  { name: "timestamp-order", rules: ["converge", "missed"], seeds: [1, 4, 6] },
  { name: "split-groups", rules: ["group"], seeds: [2, 3, 4] },
  { name: "pull-overwrites-pending", rules: ["ryw", "monotonic", "converge", "missed"], seeds: [2, 3, 6] },
  { name: "settle-next-batch", rules: ["local", "count", "converge", "missed", "ryw"], seeds: [1, 2, 3, 4, 5, 6, 7, 8] },
];

const roots: { cleanup: () => void }[] = [];
afterAll(() => roots.forEach((r) => r.cleanup()));

/** Without libfaketime the servers' clocks cannot disagree, so timestamp-order cannot show: skip, or fail under CI. */
function needsFaketime(name: string): boolean {
  if (name !== "timestamp-order" || FAKETIME) return false;
  if (process.env.CI === "true") throw new Error("planted timestamp-order: libfaketime is required under CI (apt-get install -y faketime)");
  console.warn("skipping planted timestamp-order: libfaketime is not installed (apt-get install -y faketime)");
  return true;
}

describe("the checker catches planted bugs", () => {
  for (const c of CASES) {
    test.skipIf(needsFaketime(c.name))(`${c.name}: found within ${RUNS} runs of seeds ${c.seeds.join(", ")}`, async () => {
      const root = plantedRoot(c.name);
      roots.push(root);
      const found: string[] = [];
      const seen: string[] = [];
      for (let run = 0; run < RUNS && found.length === 0; run++) {
        const seed = c.seeds[run % c.seeds.length];
        const r = await runSeed({ seed, store: "sqlite", root: root.path, short: true, focus: PLANTED[c.name].focus, gc: false, auth: false });
        const hits = r.violations.filter((v) => c.rules.includes(v.rule));
        seen.push(`run ${run + 1}, seed ${seed}: ${r.violations.map((v) => v.rule).join(", ") || "no violation"} (${r.stats.ops} ops)`);
        if (hits.length) found.push(`seed ${seed}: [${hits[0].rule}] ${hits[0].message.slice(0, 160)}`);
      }
      if (found.length === 0) console.error(`${c.name} not caught:\n${seen.join("\n")}`);
      else if (seen.length > 1) console.log(`${c.name}: caught on run ${seen.length}:\n${seen.join("\n")}`);
      expect(found).toHaveLength(1);
    }, 900_000);
  }
});
