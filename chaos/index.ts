/**
 * `bun run chaos --seeds N [--seed S] [--from F] [--store sqlite|postgres] [--short] [--verbose]
 *  [--no-atomic] [--no-gc] [--no-auth] [--planted NAME] [--root DIR] [--keep]` or `--recheck DIR`
 * Runs seeds F..F+N-1 (default 1..N), or only S; prints one line per seed, and for every failing
 * seed its schedule, the violations and the command that replays it. Exit 1 when any fails.
 * STOWAGE_CHAOS_ATOMIC=0 also turns the atomic visibility check off; STOWAGE_CHAOS_GC=0 (or
 * --no-gc) leaves tombstone GC out of the schedules; STOWAGE_CHAOS_AUTH=0 (or --no-auth) the
 * auth faults (expiring JWTs, revoked keys, downgraded scopes). `--rest` runs REST seeds
 * (chaos/rest-index.ts), `--partial` partial-sync seeds (chaos/partial-index.ts).
 */
import { plantedRoot, PLANTED } from "./planted.ts";
import { describeSchedule } from "./schedule.ts";
import { runSeed } from "./run.ts";
import { CHAOS_STORES, isStore } from "./stores.ts";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
// REST seeds have their own runner (chaos/rest-index.ts reads the same argv).
if (flag("rest")) await import("./rest-index.ts");
// Partial-sync seeds (subscriptions and sync rules) likewise: chaos/partial-index.ts.
if (flag("partial")) await import("./partial-index.ts");
const value = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
if (flag("help")) {
  console.log("usage: bun run chaos --seeds N [--seed S] [--from F] [--store sqlite|postgres] [--short] [--verbose] [--no-atomic] [--no-gc] [--no-auth] [--planted NAME] [--root DIR] [--keep] [--pg-server-url URL] [--pg-read-url URL] | --recheck DIR");
  console.log(`planted bugs: ${Object.keys(PLANTED).join(", ")}`);
  process.exit(0);
}
const again = value("recheck");
if (again) {
  const { recheck } = await import("./run.ts");
  const violations = await recheck(again, { atomic: !flag("no-atomic") });
  for (const v of violations) console.log(`VIOLATION [${v.rule}] ${v.message}`);
  console.log(`${violations.length} violation(s)`);
  process.exit(violations.length ? 1 : 0);
}
const store = value("store") ?? "sqlite";
if (!isStore(store)) {
  console.error(`--store must be one of ${Object.keys(CHAOS_STORES).join(", ")}, got ${JSON.stringify(store)}`);
  process.exit(2);
}
const one = value("seed");
const count = Number(value("seeds") ?? 1);
const from = Number(value("from") ?? 1);
if (!Number.isInteger(count) || count < 1 || (one !== undefined && !/^\d+$/.test(one))) {
  console.error("--seeds takes a positive integer and --seed a non-negative integer");
  process.exit(2);
}
const seeds = one !== undefined ? [Number(one)] : Array.from({ length: count }, (_, i) => from + i);
const atomic = !flag("no-atomic") && process.env.STOWAGE_CHAOS_ATOMIC !== "0";
const planted = value("planted");
const gcFaults = !flag("no-gc") && process.env.STOWAGE_CHAOS_GC !== "0";
const authFaults = !flag("no-auth") && process.env.STOWAGE_CHAOS_AUTH !== "0";
// --root DIR: run the processes from another tree holding src/, adapters/ and chaos/ (e.g. an
// older commit's `git archive`), to compare builds under the same schedules.
const otherRoot = value("root");
const root = planted ? plantedRoot(planted) : otherRoot ? { path: otherRoot, cleanup: () => {} } : undefined;

// --pg-server-url URL: the server processes connect through it (e.g. PgBouncer in transaction mode);
// --pg-read-url URL: they read pulls and documents from that standby (STOWAGE_TEST_PG_URL its primary).
const pgServerUrl = value("pg-server-url");
const started = performance.now();
let failed = 0;
const rules = new Map<string, number>();
for (const seed of seeds) {
  const r = await runSeed({ seed, store, root: root?.path, short: flag("short"), gc: gcFaults, focus: planted ? PLANTED[planted]?.focus : undefined, verbose: flag("verbose"), atomic, keep: flag("keep"), auth: authFaults, pgServerUrl, pgReadUrl: value("pg-read-url") });
  const s = r.stats;
  const line = `seed ${seed} ${store}: ${r.violations.length ? "FAIL" : "ok"} in ${r.ms} ms (${s.ops} ops, ${s.reads} reads, ${s.kills} client kills, ${s.serverKills} server kills, ${s.gcs} gc, ${s.resets} resets, ${s.dropped} dropped, ${s.duplicated} duplicated, ${s.streams} streams, ${s.events} events, ${s.conflicts} conflicts, ${s.rejected} rejected, ${s.authFaults} auth faults${r.schedule.auth ? ` (${r.schedule.auth.mode === "jwt" ? `${r.schedule.auth.lifetimeS}-s JWTs` : "keys"})` : ""})`;
  console.log(line);
  if (r.violations.length) {
    failed++;
    for (const v of r.violations) rules.set(v.rule, (rules.get(v.rule) ?? 0) + 1);
    console.log(describeSchedule(r.schedule));
    for (const v of r.violations) console.log(`  VIOLATION [${v.rule}] ${v.message}`);
    console.log(`  history and databases kept in ${r.dir}`);
    console.log(`  replay: bun run chaos --seed ${seed} --store ${store}${flag("short") ? " --short" : ""}${planted ? ` --planted ${planted}` : ""}${atomic ? "" : " --no-atomic"}${gcFaults ? "" : " --no-gc"}${authFaults ? "" : " --no-auth"}`);
  }
}
root?.cleanup();
const secs = ((performance.now() - started) / 1000).toFixed(1);
console.log(`${seeds.length} seed(s) on ${store} in ${secs} s: ${failed} failed${failed ? ` (${[...rules].map(([k, n]) => `${k}: ${n}`).join(", ")})` : ""}`);
process.exit(failed ? 1 : 0);
