import { join } from "node:path";
import { readFileSync } from "node:fs";
import { openStowage, type Stowage } from "../src/stowage.ts";
import { countingAdapter, type SqlEvent } from "../test/helpers/counting-sqlite.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { sqliteTarget } from "./live.ts";
import { percentile, type Reporter } from "./report.ts";

const WRITER = join(import.meta.dir, "live-writer.ts");

/**
 * Where one live change's time goes, stage by stage: A's put → B's watch callback with one
 * subscriber, as live.ts measures it, with a timestamp at every hand-over. B is timed here
 * (its SQLite handle logs each statement, its fetch is wrapped, its trace lines are stamped);
 * A (live-writer.ts, its own process) and the server (`stowage serve`, as a user runs it) by a
 * probe preloaded into their processes (live-probe.ts). Times are absolute
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
  const writerOut = dir.file("writer-probe.json");
  const logB: SqlEvent[] = [];
  const marks: Record<string, number[]> = { bBytes: [], bPoke: [], bChange: [], cb: [] };
  const open: Stowage[] = [];
  const probe = ["--preload", join(import.meta.dir, "live-probe.ts")];
  const writer = Bun.spawn([process.execPath, ...probe, WRITER, target.url, target.keys[0], dir.file("a.db")], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, BENCH_LIVE_PROBE_OUT: writerOut },
  });
  let stopped = false;
  let from = Infinity;
  const warmup = 20;
  try {
    const fetchB: typeof fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await fetch(input, init);
      if (!String(input).includes("/v1/events") || !res.body) return res;
      const body = res.body;
      const getReader = body.getReader.bind(body);
      (body as { getReader: unknown }).getReader = () => {
        const reader = getReader();
        const read = reader.read.bind(reader);
        (reader as { read: unknown }).read = async () => {
          const chunk = await read();
          marks.bBytes.push(abs());
          return chunk;
        };
        return reader;
      };
      return res;
    }) as typeof fetch;
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
    const reader = (writer.stdout as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    if (!new TextDecoder().decode(value).startsWith("ready")) throw new Error("bench live profile: the writer did not start");
    const stdin = writer.stdin as { write(s: string): void; flush(): void; end(): void };
    for (let i = 0; i < changes + warmup; i++) {
      if (i === warmup) from = abs();
      const all = new Promise<void>((resolve) => (done = resolve));
      expect = i;
      stdin.write(`${i}\n`);
      stdin.flush();
      const timeout = setTimeout(() => done(), 10_000);
      await all;
      clearTimeout(timeout);
    }
    (writer.stdin as { end(): void }).end();
    await Promise.race([writer.exited, Bun.sleep(10_000)]);
  } finally {
    writer.kill();
    for (const db of open) await db.close().catch(() => {});
    await target.stop();
    stopped = true;
  }
  const read = (file: string) => (stopped ? (JSON.parse(readFileSync(file, "utf8")) as [string, number][]) : []);
  const server = read(probeOut);
  const w = read(writerOut);
  dir.cleanup();
  const kind = (ms: [string, number][], k: string) => ms.filter((m) => m[0] === k && m[1] >= from).map((m) => m[1]);
  const starts = kind(w, "put");
  const sqlMarks = (log: SqlEvent[], kind: RegExp) => log.filter((e) => kind.test(e.sql)).map((e) => performance.timeOrigin + e.at + e.us / 1000);
  const all: Record<Stage | "aResp" | "sOut", number[]> = {
    put: starts,
    aCommit: kind(w, "commit"),
    putDone: kind(w, "putDone"),
    aSend: kind(w, "send"),
    aResp: kind(w, "resp"),
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
