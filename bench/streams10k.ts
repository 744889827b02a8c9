import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { openStowage } from "../src/stowage.ts";
import { readUrl } from "../test/helpers/server.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { readLines } from "./live-anchor.ts";
import { sqliteTarget } from "./live.ts";
import { percentile, type Reporter } from "./report.ts";

/**
 * `bun run bench streams10k` (opt-in): 10,000 open event streams on one `stowage serve`.
 *
 * - Memory: the server's RSS (/proc) with no stream, then 1,000 and 10,000 open
 *   `GET /v1/events?changes=1` streams; per stream = the growth ÷ streams. Anchor, measured the
 *   same way in the same run: the bare SSE relay (naive/relay.ts), whose per-stream cost is
 *   the runtime's own (a socket, a request, a ReadableStream) with nothing of ours.
 * - Delivery: one write (a library put in this process) reaching every stream, latency from
 *   the put to each stream's read of the event; WRITES writes, spaced so each is delivered
 *   alone. Anchor: the same with 100 streams, in the same run (the aim: p99 within 10×).
 * Streams are held by child processes (streams-readers.ts), PROCS of them, so the
 * server's sockets have real peers; the server runs with `ulimit -n` raised.
 * BENCH_STREAMS (default 10000), BENCH_STREAMS_PROCS (default 10), BENCH_STREAMS_WRITES
 * (default 20) shorten runs.
 */
const SECTION = "streams10k (open event streams on one `stowage serve`)";
const STREAMS = Number(process.env.BENCH_STREAMS ?? 10_000);
const PROCS = Number(process.env.BENCH_STREAMS_PROCS ?? 10);
const WRITES = Number(process.env.BENCH_STREAMS_WRITES ?? 20);
const READERS = join(import.meta.dir, "streams-readers.ts");
const RELAY = join(import.meta.dir, "naive/relay.ts");
/** The server caps streams per key (256 by default): this many streams share a key. */
const PER_KEY = 200;
const ULIMIT = STREAMS + 4096;

export default async function streams10k(r: Reporter): Promise<void> {
  const small = Math.min(1_000, STREAMS);
  const { perStream: relay, delivery: relayDelivery } = await relayMemory([small, STREAMS]);
  const keys = Math.ceil(STREAMS / PER_KEY) + 1;
  const target = await sqliteTarget(keys, { ulimit: ULIMIT });
  const dir = tempDir("stowage-bench-streams-");
  const readers: Readers[] = [];
  try {
    const writer = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file("writer.db") }), url: target.url, apiKey: target.keys[0], env: { STOWAGE_LIVE: "0" } });
    try {
      await writer.sync();
      const events = `${target.url}/v1/events?changes=1`;
      const streamKeys = (from: number, n: number) => Array.from({ length: n }, (_, i) => target.keys[1 + Math.floor((from + i) / PER_KEY)]);
      let n = 0;
      const put = async (i: number) => void (await writer.collection("lat").put({ id: `d${i % 50}`, n: i }));
      // Warm: statement caches, JIT.
      for (let i = 0; i < 5; i++) await put(i);
      await Bun.sleep(500);
      const rss0 = rssKiB(target.pid!);
      const hundred = Math.min(100, STREAMS);
      readers.push(await openReaders(events, streamKeys(n, hundred - n), PROCS));
      n = hundred;
      const d100 = await deliveries(readers, put, 1_000, WRITES, n, 100);
      readers.push(await openReaders(events, streamKeys(n, small - n), PROCS));
      n = small;
      await Bun.sleep(1_000);
      const rssSmall = rssKiB(target.pid!);
      readers.push(await openReaders(events, streamKeys(n, STREAMS - n), PROCS));
      n = STREAMS;
      await Bun.sleep(2_000);
      const rssAll = rssKiB(target.pid!);
      const dAll = await deliveries(readers, put, 100_000, WRITES, n, Math.max(200, n / 10));
      const perSmall = (rssSmall - rss0) / small;
      const perAll = (rssAll - rss0) / STREAMS;
      r.figure(SECTION, `server RSS per open stream at ${small.toLocaleString("en-US")} streams`, perSmall, "KiB", {
        anchor: { name: "the bare relay's", value: relay[0] },
        note: `aim ≤ 20 KiB; RSS ${(rss0 / 1024).toFixed(0)} → ${(rssSmall / 1024).toFixed(0)} MiB`,
      });
      r.figure(SECTION, `server RSS per open stream at ${STREAMS.toLocaleString("en-US")} streams`, perAll, "KiB", {
        anchor: { name: "the bare relay's", value: relay[1] },
        note: `aim ≤ 20 KiB; RSS ${(rss0 / 1024).toFixed(0)} → ${(rssAll / 1024).toFixed(0)} MiB`,
      });
      const label = (k: number) => `one write → all ${k.toLocaleString("en-US")} streams (over ${PROCS} processes)`;
      r.figure(SECTION, `${label(hundred)}: p50`, d100.p50, "ms", { note: d100.note });
      r.figure(SECTION, `${label(hundred)}: p99`, d100.p99, "ms");
      r.figure(SECTION, `${label(STREAMS)}: p50`, dAll.p50, "ms", { anchor: { name: `${hundred} streams' p50`, value: d100.p50 }, note: dAll.note });
      r.figure(SECTION, `${label(STREAMS)}: p99`, dAll.p99, "ms", { anchor: { name: `${hundred} streams' p99`, value: d100.p99 }, note: "aim ≤ 10×" });
      r.figure(SECTION, `${label(STREAMS)}: the last stream, p50 over writes`, dAll.last, "ms", { anchor: { name: `${hundred} streams' last`, value: d100.last } });
      const relayLabel = `(reference) the bare relay: one POST → all ${STREAMS.toLocaleString("en-US")} streams`;
      r.figure(SECTION, `${relayLabel}: p50`, relayDelivery.p50, "ms", { note: relayDelivery.note });
      r.figure(SECTION, `${relayLabel}: p99`, relayDelivery.p99, "ms");
      r.figure(SECTION, `${label(STREAMS)}: p99, against the bare relay's`, dAll.p99, "ms", { anchor: { name: "the bare relay's p99", value: relayDelivery.p99 } });
    } finally {
      await writer.close().catch(() => {});
    }
  } finally {
    for (const x of readers) x.end();
    await Promise.all(readers.map((x) => x.exited()));
    await target.stop();
    dir.cleanup();
  }
}

interface Readers {
  /** What arrived since the last take: n → absolute times. */
  take(): Map<number, number[]>;
  /** The same, kept. */
  peek(): Map<number, number[]>;
  end(): void;
  /** Waits for the children to end (after end()), killing any left after 10 s. */
  exited(): Promise<unknown>;
}

/** `keys.length` streams (one per entry) over up to `procs` streams-readers.ts children, all answered. */
async function openReaders(events: string, keys: string[], procs: number): Promise<Readers> {
  const per = Math.ceil(keys.length / procs);
  const children: ReturnType<typeof Bun.spawn>[] = [];
  const sinks: { end(): void }[] = [];
  let arrivals = new Map<number, number[]>();
  let ready = 0;
  let opened = 0;
  for (let p = 0; p * per < keys.length; p++) {
    const mine = keys.slice(p * per, (p + 1) * per);
    const child = Bun.spawn([process.execPath, READERS, events, ...mine], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
      // Bun's fetch holds at most 256 requests at once unless told otherwise.
      env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: String(Math.min(65_000, mine.length + 64)) },
    });
    children.push(child);
    // Held from the start: the child ends when its stdin closes.
    sinks.push(child.stdin as { end(): void });
    void readLines(child.stdout as ReadableStream<Uint8Array>, (line) => {
      if (line.startsWith("ready ")) {
        ready++;
        opened += Number(line.slice(6));
        return;
      }
      const space = line.indexOf(" ");
      const n = Number(line.slice(0, space));
      const at = Number(line.slice(space + 1));
      const list = arrivals.get(n);
      if (list) list.push(at);
      else arrivals.set(n, [at]);
    });
  }
  const end = Date.now() + 120_000;
  while (ready < children.length && Date.now() < end) await Bun.sleep(100);
  if (ready < children.length) throw new Error("bench streams10k: the readers did not all connect within 120 s");
  if (opened !== keys.length) throw new Error(`bench streams10k: ${opened} of ${keys.length} streams opened`);
  return {
    peek: () => arrivals,
    take() {
      const got = arrivals;
      arrivals = new Map();
      return got;
    },
    end() {
      for (const s of sinks) s.end();
    },
    exited: () => Promise.all(children.map((c) => Promise.race([c.exited, Bun.sleep(10_000).then(() => c.kill())]))),
  };
}

/** `writes` puts, `gapMs` apart; latency from each put's start to each stream's read of it. */
async function deliveries(readers: Readers[], put: (i: number) => Promise<void>, base: number, writes: number, streams: number, gapMs: number): Promise<{ p50: number; p99: number; last: number; note: string }> {
  for (const x of readers) x.take(); // forget what arrived before
  const starts = new Map<number, number>();
  for (let i = 0; i < writes; i++) {
    starts.set(base + i, performance.timeOrigin + performance.now());
    await put(base + i);
    await Bun.sleep(gapMs);
  }
  // Until every stream has every write, or 30 s.
  const count = () => readers.reduce((sum, x) => sum + [...x.peek().entries()].filter(([n]) => starts.has(n)).reduce((s2, [, t]) => s2 + t.length, 0), 0);
  const until = Date.now() + 30_000;
  while (count() < writes * streams && Date.now() < until) await Bun.sleep(100);
  const samples: number[] = [];
  const last = new Map<number, number>();
  for (const x of readers) {
    for (const [n, times] of x.take()) {
      const start = starts.get(n);
      if (start === undefined) continue;
      for (const t of times) {
        samples.push(t - start);
        last.set(n, Math.max(last.get(n) ?? 0, t - start));
      }
    }
  }
  samples.sort((a, b) => a - b);
  const lasts = [...last.values()].sort((a, b) => a - b);
  const expected = writes * streams;
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), last: percentile(lasts, 50), note: `${samples.length} of ${expected} deliveries (${writes} writes)` };
}

/** The server's resident memory, KiB (/proc/<pid>/status VmRSS). */
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`bench streams10k: no VmRSS for process ${pid}`);
  return Number(m[1]);
}

/**
 * The bare relay's RSS per open stream (KiB) at each count, measured as the server's is, and
 * the delivery of one POST to all streams at the last count (the runtime's own fan-out floor).
 */
async function relayMemory(counts: number[]): Promise<{ perStream: number[]; delivery: Awaited<ReturnType<typeof deliveries>> }> {
  const proc = Bun.spawn(["sh", "-c", `ulimit -n ${ULIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`, "sh", process.execPath, RELAY], { stdout: "pipe", stderr: "inherit" });
  const readers: Readers[] = [];
  try {
    const url = await readUrl(proc);
    const events = `${url}/events`;
    readers.push(await openReaders(events, ["-"], 1));
    await Bun.sleep(500);
    const rss0 = rssKiB(proc.pid);
    const out: number[] = [];
    let n = 1;
    for (const count of counts) {
      readers.push(await openReaders(events, Array.from({ length: count - n }, () => "-"), PROCS));
      n = count;
      await Bun.sleep(count > 1_000 ? 2_000 : 1_000);
      out.push((rssKiB(proc.pid) - rss0) / count);
    }
    const post = async (i: number) => void (await (await fetch(`${url}/write`, { method: "POST", body: JSON.stringify({ id: `d${i % 50}`, n: i }) })).text());
    const delivery = await deliveries(readers, post, 1_000_000, WRITES, n, Math.max(200, n / 10));
    return { perStream: out, delivery };
  } finally {
    for (const x of readers) x.end();
    await Promise.all(readers.map((x) => x.exited()));
    proc.kill("SIGTERM");
    await proc.exited;
  }
}
