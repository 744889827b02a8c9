import { afterAll, describe, expect, test } from "bun:test";
import { PLANTED, plantedRoot } from "../../chaos/planted.ts";
import { runSeed } from "../../chaos/run.ts";

/**
 * Each planted bug (a patched copy of the source, chaos/planted.ts) must be caught by the
 * checker within a bounded number of seeds, by the rule that names it.
 */
// Timing between processes is real, so one seed catches a bug in about 60% of runs: six
// seeds (it stops at the first catch) keep a miss near 0.5%.
const CASES: { name: keyof typeof PLANTED; rules: string[]; seeds: number[] }[] = [
  { name: "reapply-duplicates", rules: ["count", "once"], seeds: [1, 2, 3, 4, 5, 6] },
  { name: "timestamp-order", rules: ["converge", "missed"], seeds: [1, 2, 3, 4, 5, 6] },
  { name: "split-groups", rules: ["group"], seeds: [4, 5, 6, 7, 8, 9] },
  { name: "pull-overwrites-pending", rules: ["ryw", "monotonic", "converge", "missed"], seeds: [1, 2, 3, 4, 5, 6] },
  // Only runs with bursts push several batches: seeds 1 and 8 have them and caught it every time.
  { name: "settle-next-batch", rules: ["local", "count", "converge", "missed", "ryw"], seeds: [1, 8, 5, 2, 4, 10] },
];

const roots: { cleanup: () => void }[] = [];
afterAll(() => roots.forEach((r) => r.cleanup()));

describe("the checker catches planted bugs", () => {
  for (const c of CASES) {
    test(`${c.name}: found within ${c.seeds.length} seeds`, async () => {
      const root = plantedRoot(c.name);
      roots.push(root);
      const found: string[] = [];
      const seen: string[] = [];
      for (const seed of c.seeds) {
        const r = await runSeed({ seed, store: "sqlite", root: root.path, short: true, focus: PLANTED[c.name].focus, gc: false });
        const hits = r.violations.filter((v) => c.rules.includes(v.rule));
        seen.push(`seed ${seed}: ${r.violations.map((v) => v.rule).join(", ") || "no violation"} (${r.stats.ops} ops)`);
        if (hits.length) {
          found.push(`seed ${seed}: [${hits[0].rule}] ${hits[0].message.slice(0, 160)}`);
          break;
        }
      }
      if (found.length === 0) console.error(`${c.name} not caught:\n${seen.join("\n")}`);
      else console.log(`${c.name}: ${seen.join("; ")}`);
      expect(found).toHaveLength(1);
    }, 240_000);
  }
});
