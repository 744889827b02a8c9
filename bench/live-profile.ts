import { join } from "node:path";
import { readFileSync } from "node:fs";
import { openStowage, type Stowage } from "../src/stowage.ts";
import { countingAdapter, type SqlEvent } from "../test/helpers/counting-sqlite.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { sqliteTarget } from "./live.ts";
import { percentile, type Reporter } from "./report.ts";

/**
 * Where one live change's time goes, stage by stage: A's put → B's watch callback with one
 * subscriber, as live.ts measures it, with a timestamp at every hand-over. The clients' side
 * is timed here (their SQLite handles log each statement, their fetch is wrapped, their trace
 * lines are stamped); the server's by a probe preloaded into its `stowage serve` process
 * (live-probe.ts), so the server still runs as a user runs it. Times are absolute
 * (performance.timeOrigin + now()), comparable across processes on one machine. Each change's
 * marks are matched by time (changes go one at a time); the rows are each stage's p50 and p99
 * over the changes, and the stages' p50s add up to about the end-to-end p50.
 */
const STAGES = [
  ["put", "A: put() → its write transaction committed"],
  ["aCommit", "A: commit → put() resolves"],
  ["putDone", "A: put() resolved → push request sent (push scheduling)"],
  ["aSend", "push request: sent → server handler starts (loopback, HTTP parse)"],
  ["sIn", "server: handler → write transaction begun (auth, body parse, checks)"],
  ["sBegin", "server: write transaction (apply, commit)"],
  ["sCommit", "server: commit → change event queued (publish, encode)"],
  ["sEnq", "SSE: event queued → bytes read on B (socket flush, loopback)"],
  ["bBytes", "B: bytes → event parsed (SSE parse, JSON.parse, engine poke)"],
  ["bPoke", "B: poke → apply transaction begun (engine scheduling)"],
  ["bBegin", "B: apply transaction (read cursor, upsert, cursor, commit)"],
  ["bCommit", "B: commit → `change` event emitted"],
  ["bChange", "B: `change` → watch callback (live query re-run)"],
] as const;
type Stage = (typeof STAGES)[number][0] | "cb";
const ORDER: Stage[] = [...STAGES.map((s) => s[0]), "cb"];

export async function liveProfile(r: Reporter, section: string, changes: number): Promise<void> {
  const dir = tempDir("stowage-bench-live-profile-");
  const probeOut = dir.file("probe.json");
  const target = await sqliteTarget(2, { flags: ["--preload", join(import.meta.dir, "live-probe.ts")], env: { BENCH_LIVE_PROBE_OUT: probeOut } });
  const abs = () => performance.timeOrigin + performance.now();
  const logA: SqlEvent[] = [];
  const logB: SqlEvent[] = [];
  const marks: Record<string, number[]> = { putDone: [], aSend: [], aResp: [], bBytes: [], bPoke: [], bChange: [], cb: [] };
  const open: Stowage[] = [];
  let starts: number[] = [];
  let stopped = false;
  try {
    const fetchA: typeof fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const push = String(input).includes("/v1/push");
      if (push) marks.aSend.push(abs());
      const res = await fetch(input, init);
      if (push) marks.aResp.push(abs());
      return res;
    }) as typeof fetch;
    const fetchB: typeof fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await fetch(input, init);
      if (!String(input).includes("/v1/events") || !res.body) return res;
      const body = res.body;
      const getReader = body.getReader.bind(body);
      (body as { getReader: unknown }).getReader = () => {
        const reader = getReader();
        const read = reader.read.bind(reader);
        reader.read = async () => {
          const chunk = await read();
          marks.bBytes.push(abs());
          return chunk;
        };
        return reader;
      };
      return res;
    }) as typeof fetch;
    const a = await openStowage({ adapter: countingAdapter(dir.file("a.db"), "client", logA), url: target.url, apiKey: target.keys[0], env: {}, fetch: fetchA });
    open.push(a);
    const b = await openStowage({
      adapter: countingAdapter(dir.file("b.db"), "client", logB),
      url: target.url,
      apiKey: target.keys[1],
      env: {},
      fetch: fetchB,
      onTrace: (line) => {
        if (line.startsWith("live:poke:")) marks.bPoke.push(abs());
      },
    });
    open.push(b);
    b.on("change", () => marks.bChange.push(abs()));
    let expect = -1;
    let done: () => void = () => {};
    b.collection("lat").watch({ orderBy: "-n", limit: 1 }, (items) => {
      if (items[0]?.n === expect) {
        marks.cb.push(abs());
        done();
      }
    });
    const end = Date.now() + 30_000;
    while (Date.now() < end && !(await b.status()).live.connected) await Bun.sleep(20);
    const lat = a.collection("lat");
    const warmup = 20;
    for (let i = 0; i < changes + warmup; i++) {
      if (i === warmup) starts = [];
      const all = new Promise<void>((resolve) => (done = resolve));
      expect = i;
      starts.push(abs());
      await lat.put({ id: `d${i % 50}`, n: i });
      marks.putDone.push(abs());
      const timeout = setTimeout(() => done(), 10_000);
      await all;
      clearTimeout(timeout);
    }
  } finally {
    for (const db of open) await db.close().catch(() => {});
    await target.stop();
    stopped = true;
  }
  const server = stopped ? (JSON.parse(readFileSync(probeOut, "utf8")) as [string, number][]) : [];
  dir.cleanup();
  const sqlMarks = (log: SqlEvent[], kind: RegExp) => log.filter((e) => kind.test(e.sql)).map((e) => performance.timeOrigin + e.at + e.us / 1000);
  const all: Record<Stage | "aResp" | "sOut", number[]> = {
    put: starts,
    aCommit: sqlMarks(logA, /^commit/i),
    putDone: marks.putDone,
    aSend: marks.aSend,
    aResp: marks.aResp,
    sIn: server.filter((m) => m[0] === "in").map((m) => m[1]),
    sBegin: server.filter((m) => m[0] === "begin").map((m) => m[1]),
    sCommit: server.filter((m) => m[0] === "commit").map((m) => m[1]),
    sEnq: server.filter((m) => m[0] === "enq").map((m) => m[1]),
    sOut: server.filter((m) => m[0] === "out").map((m) => m[1]),
    bBytes: marks.bBytes,
    bPoke: marks.bPoke,
    bBegin: sqlMarks(logB, /^begin/i),
    bCommit: sqlMarks(logB, /^commit/i),
    bChange: marks.bChange,
    cb: marks.cb,
  };
  for (const xs of Object.values(all)) xs.sort((x, y) => x - y);
  const first = (xs: number[], after: number) => xs.find((x) => x >= after);
  const spans: Record<string, number[]> = {};
  const totals: number[] = [];
  const extra = { serverReply: [] as number[], respAtA: [] as number[] };
  for (let i = 0; i < starts.length; i++) {
    const next = starts[i + 1] ?? Infinity;
    const at: number[] = [];
    let t = starts[i];
    for (const s of ORDER) {
      const m = s === "put" ? t : first(all[s], t);
      if (m === undefined || m > next) break;
      at.push((t = m));
    }
    if (at.length !== ORDER.length) continue;
    for (let k = 0; k < STAGES.length; k++) (spans[STAGES[k][0]] ??= []).push(at[k + 1] - at[k]);
    totals.push(at[at.length - 1] - at[0]);
    const sOut = first(all.sOut, at[ORDER.indexOf("sCommit")]);
    const aResp = first(all.aResp, at[ORDER.indexOf("aSend")]);
    if (sOut !== undefined) extra.serverReply.push(sOut - at[ORDER.indexOf("sEnq")]);
    if (aResp !== undefined) extra.respAtA.push(aResp - at[ORDER.indexOf("bBytes")]);
  }
  const row = (name: string, xs: number[], note?: string) => {
    xs.sort((x, y) => x - y);
    r.figure(section, `profile: ${name}: p50`, percentile(xs, 50), "ms", { note: `p99 ${percentile(xs, 99).toFixed(3)} ms${note ? `; ${note}` : ""}` });
  };
  let sum = 0;
  for (const [key, label] of STAGES) {
    row(label, spans[key] ?? []);
    sum += percentile(spans[key] ?? [], 50);
  }
  row("end to end (put → callback, probes on)", totals, `${totals.length} of ${changes} changes fully marked; stage p50s add up to ${sum.toFixed(3)} ms`);
  row("(aside) server: event queued → push answered", extra.serverReply);
  row("(aside) B's bytes → A's push response (negative: A first)", extra.respAtA);
}
