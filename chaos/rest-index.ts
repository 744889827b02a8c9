/**
 * `bun run chaos/rest-index.ts --seeds N [--from F] [--seed S] [--planted NAME]` (also `bun run chaos --rest …`):
 * REST seeds over the four reference API shapes (chaos/rest-run.ts), one line each, the
 * violations of failing seeds, and a closing line with counts and time. Exit 1 when any fails.
 */
import { REST_PLANTED, runRestSeed } from "./rest-run.ts";

const args = process.argv.slice(2);
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
const planted = value("planted");
if (planted !== undefined && !(REST_PLANTED as readonly string[]).includes(planted)) {
  console.error(`--planted takes one of ${REST_PLANTED.join(", ")}`);
  process.exit(2);
}
const seeds = one !== undefined ? [Number(one)] : Array.from({ length: count }, (_, i) => from + i);
const started = performance.now();
let failed = 0;
const byShape = new Map<string, { seeds: number; failed: number }>();
const totals = { ops: 0, syncs: 0, failedSyncs: 0, dropped: 0, duplicated: 0, repaired: 0 };
const rules = new Map<string, number>();
for (const seed of seeds) {
  const r = await runRestSeed(seed, planted);
  const s = r.stats;
  const sc = r.schedule;
  for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += s[k];
  const shape = byShape.get(sc.shape) ?? { seeds: 0, failed: 0 };
  shape.seeds++;
  console.log(`rest seed ${seed} ${sc.shape}${sc.idempotency ? " +idempotency" : ""} overlap ${sc.overlapMs} ${sc.clients} clients: ${r.violations.length ? "FAIL" : "ok"} in ${r.ms} ms (${s.ops} ops, ${s.syncs} syncs, ${s.failedSyncs} failed, ${s.restarts} restarts, ${s.direct} direct API writes, ${s.dropped} dropped, ${s.duplicated} duplicated, ${s.refused} refused, ${s.repaired} repaired)`);
  if (r.violations.length) {
    failed++;
    shape.failed++;
    for (const v of r.violations) {
      rules.set(v.rule, (rules.get(v.rule) ?? 0) + 1);
      console.log(`  VIOLATION [${v.rule}] ${v.message}`);
    }
    console.log(`  replay: bun run chaos/rest-index.ts --seed ${seed}`);
  }
  byShape.set(sc.shape, shape);
}
const secs = ((performance.now() - started) / 1000).toFixed(1);
console.log(`${seeds.length} REST seed(s) in ${secs} s: ${failed} failed${failed ? ` (${[...rules].map(([k, n]) => `${k}: ${n}`).join(", ")})` : ""}; ${[...byShape].map(([k, v]) => `${k} ${v.seeds - v.failed}/${v.seeds}`).join(", ")}; ${totals.ops} writes, ${totals.syncs} syncs (${totals.failedSyncs} failed), ${totals.dropped} answers dropped, ${totals.duplicated} requests duplicated, ${totals.repaired} duplicates repaired`);
process.exit(failed ? 1 : 0);
