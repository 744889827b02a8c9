import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openStowage, type Stowage } from "../src/stowage.ts";
import { countingAdapter, type SqlEvent } from "../test/helpers/counting-sqlite.ts";
import { pgAvailable } from "../test/helpers/pg.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { pgTarget, sqliteTarget, type Target } from "./live.ts";
import { percentile, type Reporter } from "./report.ts";

/**
 * `bun run bench live-cost`: what ONE live event costs ONE subscriber, counted. The writer runs
 * in a child process and the server in another, so this process's CPU time is the
 * subscribers' own (SSE read and parse, the local transaction, the live query's re-run and
 * callback). Each subscriber's local database is a counting bun:sqlite handle: statements and
 * transactions per event are exact; CPU per event is `process.cpuUsage` over the measured
 * changes, divided by changes × subscribers (rough on a shared machine, but it is the figure
 * that decides how many subscribers one core serves within the latency aim).
 * BENCH_LIVE_COST_SUBSCRIBERS (default 20), BENCH_LIVE_COST_CHANGES (default 200),
 * BENCH_LIVE_COST_PG=1 measures against PostgreSQL too.
 */
const SECTION = "live cost (one event, one subscriber)";
const SUBS = Number(process.env.BENCH_LIVE_COST_SUBSCRIBERS ?? 20);
const CHANGES = Number(process.env.BENCH_LIVE_COST_CHANGES ?? 200);
const WRITER = join(import.meta.dir, "live-writer.ts");

export default async function liveCost(r: Reporter): Promise<void> {
  await measure(r, "sqlite", await sqliteTarget(SUBS + 1));
  if (process.env.BENCH_LIVE_COST_PG === "1" && (await pgAvailable("bench live-cost").catch(() => false))) await measure(r, "postgres", await pgTarget(SUBS + 1));
}

async function measure(r: Reporter, store: string, target: Target): Promise<void> {
  const dir = tempDir("stowage-bench-live-cost-");
  const log: SqlEvent[] = [];
  const open: Stowage[] = [];
  const writer = Bun.spawn([process.execPath, WRITER, target.url, target.keys[0], dir.file("writer.db")], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  try {
    let expect = -1;
    let pending = 0;
    let done: () => void = () => {};
    let start = 0;
    const samples: number[] = [];
    /** Put → the event parsed in a subscriber (what the server and the sockets take). */
    const arrivals: number[] = [];
    for (let i = 0; i < SUBS; i++) {
      const onTrace = (line: string) => {
        if (line.startsWith("live:poke:") && pending > 0) arrivals.push(performance.now() - start);
      };
      const db = await openStowage({ adapter: countingAdapter(dir.file(`sub${i}.db`), "client", log), url: target.url, apiKey: target.keys[i + 1], env: {}, onTrace });
      open.push(db);
      let seen = -1;
      db.collection("lat").watch({ orderBy: "-n", limit: 1 }, (items) => {
        const n = (items[0]?.n as number | undefined) ?? -1;
        if (n === expect && seen !== n) {
          samples.push(performance.now() - start);
          if (--pending === 0) done();
        }
        seen = n;
      });
    }
    const reader = (writer.stdout as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    if (!new TextDecoder().decode(value).startsWith("ready")) throw new Error("bench live-cost: writer did not start");
    for (const db of open) await db.sync();
    const end = Date.now() + 30_000;
    while (Date.now() < end && !(await Promise.all(open.map(async (d) => (await d.status()).live.connected))).every(Boolean)) await Bun.sleep(20);
    const stdin = writer.stdin as { write(s: string): void; flush(): void; end(): void };
    const step = async (i: number) => {
      const all = new Promise<void>((resolve) => (done = resolve));
      pending = SUBS;
      expect = i;
      start = performance.now();
      stdin.write(`${i}\n`);
      stdin.flush();
      const timeout = setTimeout(() => done(), 10_000);
      await all;
      clearTimeout(timeout);
    };
    for (let i = 0; i < 20; i++) await step(i);
    samples.length = 0;
    arrivals.length = 0;
    log.length = 0;
    const server0 = procCpuUs(target.pid);
    const pulls0 = pulls(log);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 20; i < 20 + CHANGES; i++) await step(i);
    const cpu = process.cpuUsage(cpu0);
    const serverUs = procCpuUs(target.pid) - server0;
    const wall = performance.now() - t0;
    const events = CHANGES * SUBS;
    const statements = log.filter((e) => !/^(begin|commit|rollback)/i.test(e.sql));
    const transactions = log.filter((e) => /^begin/i.test(e.sql)).length;
    const bySql = new Map<string, number>();
    const usBySql = new Map<string, number>();
    for (const e of log) {
      const k = e.sql.replace(/\s+/g, " ").slice(0, 100);
      bySql.set(k, (bySql.get(k) ?? 0) + 1);
      usBySql.set(k, (usBySql.get(k) ?? 0) + e.us);
    }
    samples.sort((a, b) => a - b);
    arrivals.sort((a, b) => a - b);
    const label = `${store}, ${SUBS} subscribers`;
    r.figure(SECTION, `${label}: statements per event`, statements.length / events, "", { note: `${samples.length} of ${events} deliveries` });
    r.figure(SECTION, `${label}: transactions per event`, transactions / events, "");
    r.figure(SECTION, `${label}: CPU per event (user+sys)`, (cpu.user + cpu.system) / events, "µs");
    r.figure(SECTION, `${label}: pulls per event`, (pulls(log) - pulls0) / events, "");
    if (target.pid) r.figure(SECTION, `${label}: server CPU per change (all streams)`, serverUs / CHANGES, "µs");
    r.figure(SECTION, `${label}: wall per change`, wall / CHANGES, "ms");
    r.figure(SECTION, `${label}: latency p50`, percentile(samples, 50), "ms");
    r.figure(SECTION, `${label}: latency p99`, percentile(samples, 99), "ms");
    r.figure(SECTION, `${label}: event arrival p50 (put → parsed)`, percentile(arrivals, 50), "ms");
    r.figure(SECTION, `${label}: event arrival p99`, percentile(arrivals, 99), "ms");
    r.figure(SECTION, `${label}: SQLite time per event`, [...usBySql.values()].reduce((a, b) => a + b, 0) / events, "µs");
    for (const [sql, n] of [...bySql].sort((a, b) => b[1] - a[1])) r.log(`  ${(n / events).toFixed(3).padStart(7)} × ${(usBySql.get(sql)! / n).toFixed(1).padStart(7)} µs  ${sql}`);
  } finally {
    (writer.stdin as { end(): void }).end();
    await Promise.race([writer.exited, Bun.sleep(5000)]);
    writer.kill();
    for (const db of open) await db.close().catch(() => {});
    await target.stop();
    dir.cleanup();
  }
}

/** User+system CPU time of a process from /proc, in µs (0 where /proc is absent). */
function procCpuUs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** Pulls the subscribers made: each reads the refresh list first (a live apply never does). */
function pulls(log: SqlEvent[]): number {
  return log.filter((e) => e.sql.startsWith("select collection, id from _stowage_refresh")).length;
}
