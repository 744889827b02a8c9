import { countingAdapter, type SqlEvent } from "../test/helpers/counting-sqlite.ts";
import { openStowage, type Stowage } from "../src/stowage.ts";
import { startServer } from "../test/helpers/server.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import type { Reporter } from "./report.ts";

/**
 * `bun run bench profile`: what ONE small `sync()` with one change costs, counted. The client
 * and an in-process server both run on counting bun:sqlite handles, and the client's fetch is
 * wrapped, so the profile lists every local statement and transaction, every request, and
 * the server's statements per request, with the time of each step (medians over many
 * profiled syncs; with STOWAGE_PROFILE_VERBOSE=1 also the time before each statement, which
 * splits a request into HTTP in, key check, body parse and queue, transaction, answer).
 * Counts are deterministic (use them to guide work); times are rough on a shared machine.
 */

/** A step of the profile: what ran between two request boundaries. */
export interface ProfileStep {
  step: string;
  /** Median over the profiled syncs. */
  ms: number;
  statements: number;
  transactions: number;
  prepares: number;
  sql: string[];
  /** Median ms from the step's start (or the previous statement) to each statement, then to the step's end: where the time goes. */
  gaps: { before: string; ms: number }[];
}

export interface SyncProfile {
  requests: number;
  client: { statements: number; transactions: number; prepares: number };
  server: { statements: number; transactions: number; perRequest: { request: string; statements: number; transactions: number }[] };
  steps: ProfileStep[];
  /** Median wall time of one sync over `samples` profiled syncs. */
  totalMs: number;
  samples: number;
}

const isBegin = (sql: string) => /^begin/i.test(sql);
const isControl = (sql: string) => /^(begin|commit|rollback|savepoint|release)/i.test(sql);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const short = (sql: string) => sql.replace(/\s+/g, " ").slice(0, 90);

/**
 * Profiles small syncs of a client holding `stored` documents: `rounds` warm-up syncs first
 * (statement caches and the JIT warm, as in a long-running app), then `samples` profiled
 * ones, each after one put. Counts come from the last one (they are the same every time);
 * times are medians over the samples.
 */
export async function profileSmallSync(opts: { stored?: number; rounds?: number; samples?: number } = {}): Promise<SyncProfile> {
  const stored = opts.stored ?? 10_000;
  const rounds = opts.rounds ?? 30;
  const samples = opts.samples ?? 41;
  const dir = tempDir("stowage-profile-");
  const log: SqlEvent[] = [];
  let requests: { what: string; start: number; end: number }[] = [];
  const server = await startServer({ adapter: countingAdapter(dir.file("server.db"), "server", log) });
  let recording = false;
  const fetchFn = async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const what = `${init?.method ?? "GET"} ${new URL(url).pathname}`;
    const start = performance.now();
    const res = await globalThis.fetch(input, init);
    const text = await res.text();
    const end = performance.now();
    if (recording) requests.push({ what, start, end });
    return new Response(text, { status: res.status, headers: res.headers });
  };
  let a: Stowage | undefined;
  try {
    a = await openStowage({
      adapter: countingAdapter(dir.file("a.db"), "client", log),
      url: server.url,
      apiKey: server.key,
      env: {},
      autoSync: false,
      fetch: fetchFn as typeof fetch,
    });
    const docs = a.collection("docs");
    for (let i = 0; i < stored; i += 1000) {
      await docs.putMany(Array.from({ length: Math.min(1000, stored - i) }, (_, j) => ({ id: `d${i + j}`, n: i + j, title: `doc ${i + j}` })));
    }
    await a.sync();
    for (let i = 0; i < rounds; i++) {
      await docs.put({ id: `w${i}`, n: i });
      await a.sync();
    }
    const runs: SyncProfile[] = [];
    for (let i = 0; i < samples; i++) {
      await docs.put({ id: `profiled${i}`, n: i });
      log.length = 0;
      requests = [];
      recording = true;
      const t0 = performance.now();
      await a.sync();
      const t1 = performance.now();
      recording = false;
      runs.push(summarize(log.slice(), requests, t0, t1));
    }
    return mergeRuns(runs);
  } finally {
    await a?.close().catch(() => {});
    await server.stop();
    dir.cleanup();
  }
}

/** The last run's counts with every time replaced by the median over all runs. */
function mergeRuns(runs: SyncProfile[]): SyncProfile {
  const last = runs[runs.length - 1];
  const same = runs.filter((r) => r.steps.length === last.steps.length && r.steps.every((s, i) => s.gaps.length === last.steps[i].gaps.length));
  return {
    ...last,
    totalMs: median(runs.map((r) => r.totalMs)),
    samples: runs.length,
    steps: last.steps.map((s, i) => ({
      ...s,
      ms: median(same.map((r) => r.steps[i].ms)),
      gaps: s.gaps.map((g, j) => ({ before: g.before, ms: median(same.map((r) => r.steps[i].gaps[j].ms)) })),
    })),
  };
}

function summarize(events: SqlEvent[], requests: { what: string; start: number; end: number }[], t0: number, t1: number): SyncProfile {
  const client = events.filter((e) => e.side === "client");
  const serverEv = events.filter((e) => e.side === "server");
  const count = (list: SqlEvent[]) => ({
    statements: list.filter((e) => !isControl(e.sql)).length,
    transactions: list.filter((e) => isBegin(e.sql)).length,
    prepares: list.filter((e) => e.prepared).length,
  });
  const gapsOf = (list: SqlEvent[], from: number, to: number, end: string) => {
    const gaps: { before: string; ms: number }[] = [];
    let at = from;
    for (const e of list) {
      gaps.push({ before: short(e.sql), ms: e.at - at });
      at = e.at;
    }
    gaps.push({ before: end, ms: to - at });
    return gaps;
  };
  const steps: ProfileStep[] = [];
  let from = t0;
  const addLocal = (name: string, to: number) => {
    const list = client.filter((e) => e.at >= from && e.at < to);
    steps.push({ step: name, ms: to - from, ...count(list), sql: list.map((e) => short(e.sql)), gaps: gapsOf(list, from, to, "(the request starts)") });
  };
  for (const r of requests) {
    addLocal(`client before ${r.what}`, r.start);
    const list = serverEv.filter((e) => e.at >= r.start && e.at <= r.end);
    steps.push({
      step: `${r.what} (server side)`,
      ms: r.end - r.start,
      ...count(list),
      sql: list.map((e) => short(e.sql)),
      gaps: gapsOf(list, r.start, r.end, "(the answer is read)"),
    });
    from = r.end;
  }
  addLocal("client after the last request", t1);
  steps[steps.length - 1].gaps[steps[steps.length - 1].gaps.length - 1].before = "(sync() resolves)";
  const perRequest = requests.map((r) => {
    const list = serverEv.filter((e) => e.at >= r.start && e.at <= r.end);
    return { request: r.what, ...count(list) };
  });
  const sc = count(serverEv);
  return {
    requests: requests.length,
    client: count(client),
    server: { statements: sc.statements, transactions: sc.transactions, perRequest },
    steps,
    totalMs: t1 - t0,
    samples: 1,
  };
}

/** Prints a profile as a table (and, when `verbose`, the median time before each statement of each step). */
export function printProfile(p: SyncProfile, verbose: boolean, write: (s: string) => void = (s) => process.stderr.write(s)): void {
  write(`profile of one sync() with one change: ${p.requests} requests, ${p.totalMs.toFixed(2)} ms (median of ${p.samples})\n`);
  write(`  client: ${p.client.transactions} transactions, ${p.client.statements} statements, ${p.client.prepares} prepares\n`);
  write(`  server: ${p.server.transactions} transactions, ${p.server.statements} statements\n`);
  write(`  ${"step".padEnd(44)} ${"ms".padStart(7)} ${"tx".padStart(3)} ${"stmts".padStart(5)} ${"prep".padStart(4)}\n`);
  for (const s of p.steps) {
    write(`  ${s.step.padEnd(44)} ${s.ms.toFixed(3).padStart(7)} ${String(s.transactions).padStart(3)} ${String(s.statements).padStart(5)} ${String(s.prepares).padStart(4)}\n`);
    if (verbose) for (const g of s.gaps) write(`      ${g.ms.toFixed(3).padStart(7)} ms → ${g.before}\n`);
  }
}

export default async function profileBench(r: Reporter): Promise<void> {
  for (const stored of [10_000, Number(process.env.STOWAGE_PROFILE_STORED ?? 0)].filter((n) => n > 0)) {
    const p = await profileSmallSync({ stored });
    printProfile(p, process.env.STOWAGE_PROFILE_VERBOSE === "1");
    const section = `profile: one small sync (${stored.toLocaleString("en-US")} stored, in-process server)`;
    r.figure(section, "client transactions", p.client.transactions, "tx");
    r.figure(section, "client statements (excluding begin/commit)", p.client.statements, "stmts");
    r.figure(section, "client statement prepares", p.client.prepares, "prepares");
    r.figure(section, "HTTP requests", p.requests, "requests");
    for (const q of p.server.perRequest) r.figure(section, `server: ${q.request}`, q.statements, "stmts", { note: `${q.transactions} transactions` });
    for (const s of p.steps) r.figure(section, `time: ${s.step}`, s.ms, "ms", { note: `median of ${p.samples}` });
    r.figure(section, "wall time (rough)", p.totalMs, "ms", { note: `median of ${p.samples}` });
  }
}
