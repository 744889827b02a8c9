/**
 * `bun run chaos --partial --seeds N [--from F] [--seed S] [--short] [--verbose] [--keep]`:
 * partial-sync seeds (chaos/partial-run.ts: subscriptions and sync rules), one line each, the
 * schedule and violations of failing seeds with the command that replays them, and a closing
 * line with counts. Exit 1 when any fails.
 */
import { describePartialSchedule } from "./partial-schedule.ts";
import { runPartialSeed } from "./partial-run.ts";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const value = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const one = value("seed");
const count = Number(value("seeds") ?? 1);
const from = Number(value("from") ?? 1);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(from) || (one !== undefined && !/^\d+$/.test(one))) {
  console.error("--seeds takes a positive integer, --from and --seed non-negative integers");
  process.exit(2);
}
const seeds = one !== undefined ? [Number(one)] : Array.from({ length: count }, (_, i) => from + i);
const started = performance.now();
let failed = 0;
const rules = new Map<string, number>();
const totals = { ops: 0, subChanges: 0, pulls: 0, events: 0, leaves: 0, refused: 0 };
for (const seed of seeds) {
  const r = await runPartialSeed({ seed, short: flag("short"), verbose: flag("verbose"), keep: flag("keep") });
  const s = r.stats;
  for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += s[k];
  console.log(`partial seed ${seed}: ${r.violations.length ? "FAIL" : "ok"} in ${r.ms} ms (${s.ops} writes, ${s.subChanges} subscription changes, ${s.snapshots} snapshots, ${s.pulls} pull pages, ${s.events} events, ${s.leaves} leaves, ${s.refused} refused, ${s.kills} client kills, ${s.serverKills} server kills, ${s.dropped} dropped, ${s.duplicated} duplicated)`);
  if (r.violations.length) {
    failed++;
    for (const v of r.violations) rules.set(v.rule, (rules.get(v.rule) ?? 0) + 1);
    console.log(describePartialSchedule(r.schedule));
    for (const v of r.violations) console.log(`  VIOLATION [${v.rule}] ${v.message}`);
    console.log(`  history and databases kept in ${r.dir}`);
    console.log(`  replay: bun run chaos --partial --seed ${seed}${flag("short") ? " --short" : ""}`);
  }
}
const secs = ((performance.now() - started) / 1000).toFixed(1);
console.log(`${seeds.length} partial seed(s) in ${secs} s: ${failed} failed${failed ? ` (${[...rules].map(([k, n]) => `${k}: ${n}`).join(", ")})` : ""}; ${totals.ops} writes, ${totals.subChanges} subscription changes, ${totals.pulls} pull pages, ${totals.events} events, ${totals.leaves} leaves, ${totals.refused} refused`);
process.exit(failed ? 1 : 0);
