import { join } from "node:path";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { createPostgresAdapter } from "../adapters/postgres/index.ts";
import { createKey, openServerStore } from "../src/server/index.ts";
import { openStowage, type Stowage } from "../src/stowage.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable } from "../test/helpers/pg.ts";
import { readUrl } from "../test/helpers/server.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { readLines, relayLatencies, relaySpreadLatencies } from "./live-anchor.ts";
import { liveProfile } from "./live-profile.ts";
import { pgPushAnchors } from "./live-pg-anchor.ts";
import { percentile, type Reporter } from "./report.ts";

const SECTION = "live (A's put → B's watch callback, server in its own process, loopback)";
const CHANGES = Number(process.env.BENCH_LIVE_CHANGES ?? 1000);
const SUBSCRIBERS = (process.env.BENCH_LIVE_SUBSCRIBERS ?? "1,10,100").split(",").map(Number);
const BIN = join(import.meta.dir, "../src/cli/bin.ts");
/**
 * BENCH_LIVE_PROCS=k (default 10; 0 or 1: off) also measures each subscriber count of at least
 * k with the subscribers spread over k child processes (live-subscribers.ts), next to the
 * in-process layout: closer to separate devices, since one event loop no longer serves all.
 * The durable relay is measured the same way for those counts, as their anchor.
 */
const PROCS = Number(process.env.BENCH_LIVE_PROCS ?? 10);
/** BENCH_LIVE_FANOUT=1 adds the rows with one measured client and the other subscribers as bare streams. */
const FANOUT = process.env.BENCH_LIVE_FANOUT === "1";
/** Changes of the per-stage profile (live-profile.ts) after the rows; 0 skips it. */
const PROFILE_CHANGES = Number(process.env.BENCH_LIVE_PROFILE ?? 300);
const WRITER_SCRIPT = join(import.meta.dir, "live-writer.ts");
const SUBSCRIBER_SCRIPT = join(import.meta.dir, "live-subscribers.ts");
const READERS_SCRIPT = join(import.meta.dir, "live-readers.ts");

export interface Target {
  url: string;
  /** The server's process id (its CPU time is read from /proc by live-cost.ts). */
  pid?: number;
  /** One key per client (same tenant): `stowage serve` rate-limits per key (50/s), and 100 clients each pulling after every write would spend one key's budget in a few changes. */
  keys: string[];
  stop(): Promise<void>;
}

/**
 * Propagation latency of one change to N live subscribers: A, in its own process
 * (live-writer.ts, library defaults), puts a document (clock starts before the call), every
 * subscriber's live query (`watch`, default options: live stream on, 60 s interval) fires with
 * it (clock stops in the callback; both clocks are performance.timeOrigin + now(), one machine). Changes go one at a time (the
 * next once every subscriber has the previous), so each figure is an unloaded latency; the
 * percentiles are over every delivery (changes × subscribers). All subscribers live in this
 * one process, so with 100 of them a delivery also waits for the others' pulls and queries on
 * this event loop: the 100-subscriber figures are an upper bound for 100 separate devices
 * (BENCH_LIVE_PROCS=k adds rows with them spread over k child processes; on a machine with
 * fewer cores than that, they still share the CPU).
 * The anchor, measured first in the same run: the durable relay in its own process
 * (live-anchor.ts, naive/relay.ts: A's SQLite insert, one POST, the relay's insert, one event,
 * B's insert), the floor of a live sync over HTTP that stores what it sends on this machine;
 * each row prints it and the ratio beside it. The bare relay (nothing stored) is printed for
 * reference. After the rows, a per-stage profile of one subscriber (live-profile.ts;
 * BENCH_LIVE_PROFILE=n changes, 0 skips it). With PostgreSQL, more
 * anchors: a one-op push's transaction from bare node-postgres and the server's push() in
 * process (pipelined and not), each back to back and 2 ms apart (live-pg-anchor.ts).
 * BENCH_LIVE_CHANGES (default 1000) and BENCH_LIVE_SUBSCRIBERS (default 1,10,100) shorten runs.
 */
export default async function liveBench(r: Reporter): Promise<void> {
  const pg = process.env.BENCH_LIVE_PG !== "0" && (await pgAvailable("bench live").catch(() => false));
  const dir = tempDir("stowage-bench-live-relay-");
  try {
    const bare = percentiles(await relayLatencies(CHANGES));
    const bareLabel = "(reference) a bare SSE relay in its own process (one POST, one event; no storage), 1 subscriber";
    r.figure(SECTION, `${bareLabel}: p50`, bare.p50, "ms", { note: `p95 ${bare.p95.toFixed(3)}, p99 ${bare.p99.toFixed(3)} ms; ${CHANGES} changes` });
    relay1 = { name: "durable relay, 1 subscriber", ...percentiles(await relayLatencies(CHANGES, dir.path)) };
    const label = "anchor: the durable relay (SQLite insert on A → POST → relay's insert → SSE → insert on B; WAL, synchronous=normal), 1 subscriber";
    r.figure(SECTION, `${label}: p50`, relay1.p50, "ms", { note: `${CHANGES} changes` });
    r.figure(SECTION, `${label}: p95`, relay1.p95, "ms");
    r.figure(SECTION, `${label}: p99`, relay1.p99, "ms");
    for (const n of SUBSCRIBERS) {
      if (!(PROCS > 1 && n >= PROCS)) continue;
      const sub = tempDir("stowage-bench-live-relay-");
      try {
        const a = { name: `durable relay, ${n} subscribers over ${PROCS} processes`, ...percentiles(await relaySpreadLatencies(CHANGES, n, PROCS, sub.path)) };
        relaySpread.set(n, a);
        const spreadLabel = `anchor: the durable relay, ${n} subscribers over ${PROCS} processes (each inserts every event)`;
        r.figure(SECTION, `${spreadLabel}: p50`, a.p50, "ms", { note: `${CHANGES} changes × ${n}` });
        r.figure(SECTION, `${spreadLabel}: p95`, a.p95, "ms");
        r.figure(SECTION, `${spreadLabel}: p99`, a.p99, "ms");
      } finally {
        sub.cleanup();
      }
    }
  } finally {
    dir.cleanup();
  }
  if (pg) {
    for (const kind of ["transaction", "push", "push, one statement at a time"] as const) {
      for (const pause of [0, 2]) {
        const xs = await pgPushAnchors(CHANGES, kind, pause);
        const what =
          kind === "transaction" ? "a one-op push's PostgreSQL transaction from bare node-postgres (5 round trips)" : `the server's push() over PostgreSQL in this process, no HTTP (${kind === "push" ? "2 round trips" : "5: one statement at a time"})`;
        r.figure(SECTION, `anchor: ${what}, ${pause ? `${pause} ms apart` : "back to back"}: p50`, percentile(xs, 50), "ms", { note: `p95 ${percentile(xs, 95).toFixed(2)} ms; ${CHANGES} changes` });
      }
    }
  }
  for (const n of SUBSCRIBERS) {
    await measure(r, "sqlite (stowage serve)", n, await sqliteTarget(n + 1));
    if (PROCS > 1 && n >= PROCS) await measureSpread(r, "sqlite (stowage serve)", n, await sqliteTarget(n + 1));
    if (pg) await measure(r, "postgres", n, await pgTarget(n + 1));
    if (pg && PROCS > 1 && n >= PROCS) await measureSpread(r, "postgres", n, await pgTarget(n + 1));
    if (n > 1 && FANOUT) await measure(r, "sqlite (stowage serve)", n, await sqliteTarget(n + 1), true);
    if (pg && n > 1 && FANOUT) await measure(r, "postgres", n, await pgTarget(n + 1), true);
  }
  if (!pg) r.log(`bench live: PostgreSQL at ${PG_URL} unreachable: no PostgreSQL rows`);
  if (PROFILE_CHANGES > 0) await liveProfile(r, SECTION, PROFILE_CHANGES);
}

/**
 * The writer A in its own process (live-writer.ts), as another device is: `put(n)` asks it
 * for one put; `starts()` ends it and answers each put's start time (absolute, comparable with
 * the subscribers' callback times).
 */
async function startWriter(url: string, key: string, path: string): Promise<{ put(n: number): void; starts(): Promise<Map<number, number>>; kill(): void }> {
  const child = Bun.spawn([process.execPath, WRITER_SCRIPT, url, key, path], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const lines: string[] = [];
  let wake: () => void = () => {};
  const reading = readLines(child.stdout as ReadableStream<Uint8Array>, (line) => {
    lines.push(line);
    wake();
  });
  const end = Date.now() + 60_000;
  while (!lines.includes("ready") && Date.now() < end) await new Promise<void>((res) => ((wake = res), setTimeout(res, 50)));
  if (!lines.includes("ready")) throw new Error("bench live: the writer did not start");
  const stdin = child.stdin as { write(s: string): void; flush(): void; end(): void };
  return {
    put(n) {
      stdin.write(`${n}\n`);
      stdin.flush();
    },
    async starts() {
      stdin.end();
      await Promise.race([reading, new Promise((res) => setTimeout(res, 30_000))]);
      const line = lines.find((l) => l.startsWith("starts "));
      if (!line) throw new Error("bench live: the writer did not report its start times");
      return new Map(Object.entries(JSON.parse(line.slice(7)) as Record<string, number>).map(([n, t]) => [Number(n), t]));
    },
    kill: () => child.kill(),
  };
}

/**
 * The writer A is its own process (startWriter), as in every row. With `fanout`, one
 * subscriber is a full client in this process, measured, and the other subscribers-1 are bare
 * event streams in a child process (live-readers.ts) that receive every event: the server fans
 * out to every stream as before, but the other devices' apply and query work, which on real
 * devices runs on their own CPUs, is not on this machine's two cores. The rows say so; the
 * rows without it keep every subscriber a full client here.
 */
async function measure(r: Reporter, store: string, subscribers: number, target: Target, fanout = false): Promise<void> {
  const dir = tempDir("stowage-bench-live-");
  const open: Stowage[] = [];
  const offs: (() => void)[] = [];
  let readers: Awaited<ReturnType<typeof startReaders>> | undefined;
  let writer: Awaited<ReturnType<typeof startWriter>> | undefined;
  const full = fanout ? 1 : subscribers;
  try {
    writer = await startWriter(target.url, target.keys[0], dir.file("writer.db"));
    let expect = -1;
    let pending = 0;
    let done: () => void = () => {};
    /** Callback times (absolute) of the change each subscriber is waiting for. */
    const got = new Map<number, number[]>();
    if (fanout) readers = await startReaders(target.url, target.keys.slice(2, subscribers + 1));
    for (let i = 0; i < full; i++) {
      const b = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`sub${i}.db`) }), url: target.url, apiKey: target.keys[1 + i], env: {} });
      open.push(b);
      let seen = -1;
      // The newest document only: the query stays one row however many were written.
      offs.push(
        b.collection("lat").watch({ orderBy: "-n", limit: 1 }, (items) => {
          const n = (items[0]?.n as number | undefined) ?? -1;
          if (n === expect && seen !== n) {
            const at = performance.timeOrigin + performance.now();
            const list = got.get(n);
            if (list) list.push(at);
            else got.set(n, [at]);
            if (--pending === 0) done();
          }
          seen = n;
        }),
      );
    }
    await waitConnected(open);
    const warmup = 20;
    for (let i = 0; i < CHANGES + warmup; i++) {
      const all = new Promise<void>((resolve) => (done = resolve));
      pending = full;
      expect = i;
      writer.put(i);
      const timeout = setTimeout(() => done(), 10_000); // a lost change shows as a missing sample, not a hang
      await all;
      clearTimeout(timeout);
    }
    const starts = await writer.starts();
    const samples: number[] = [];
    for (let i = warmup; i < CHANGES + warmup; i++) for (const at of got.get(i) ?? []) samples.push(at - starts.get(i)!);
    const expected = CHANGES * full;
    samples.sort((x, y) => x - y);
    const label = fanout ? `${store}, ${subscribers} subscribers (1 measured client + ${subscribers - 1} streams in another process)` : `${store}, ${subscribers} subscriber${subscribers === 1 ? "" : "s"}`;
    const note = samples.length === expected ? `${CHANGES} changes × ${full}` : `${samples.length} of ${expected} deliveries within 10 s`;
    figures(r, label, samples, note, relay1);
    if (readers) {
      const bytes = await readers.bytes();
      if (!(bytes > 0)) throw new Error("bench live: the other streams received nothing");
      r.log(`bench live: the ${subscribers - 1} other streams received ${(bytes / (subscribers - 1) / 1024).toFixed(0)} KiB each`);
    }
  } finally {
    writer?.kill();
    readers?.kill();
    for (const off of offs) off();
    for (const db of open) await db.close().catch(() => {});
    await target.stop();
    dir.cleanup();
  }
}

interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

function percentiles(sorted: number[]): Percentiles {
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

/** The durable relay's percentiles, measured first: the anchor of every row (live-anchor.ts). */
let relay1: (Percentiles & { name: string }) | undefined;
/** The durable relay with n subscribers over PROCS processes: the anchor of the spread rows. */
const relaySpread = new Map<number, Percentiles & { name: string }>();

function figures(r: Reporter, label: string, samples: number[], note: string, anchor?: Percentiles & { name: string }): void {
  const at = (p: keyof Percentiles) => (anchor ? { anchor: { name: `${anchor.name} ${p}`, value: anchor[p] } } : {});
  r.figure(SECTION, `${label}: p50`, percentile(samples, 50), "ms", { note, ...at("p50") });
  r.figure(SECTION, `${label}: p95`, percentile(samples, 95), "ms", at("p95"));
  r.figure(SECTION, `${label}: p99`, percentile(samples, 99), "ms", at("p99"));
}

/** measure(), with the subscribers in PROCS child processes; latency from A's put to each child's callback (one machine clock). */
async function measureSpread(r: Reporter, store: string, subscribers: number, target: Target): Promise<void> {
  const dir = tempDir("stowage-bench-live-");
  const children: ReturnType<typeof Bun.spawn>[] = [];
  let writer: Awaited<ReturnType<typeof startWriter>> | undefined;
  try {
    writer = await startWriter(target.url, target.keys[0], dir.file("writer.db"));
    const got = new Map<number, number[]>();
    let ready = 0;
    let wake: () => void = () => {};
    let expect = -1;
    const per = Math.ceil(subscribers / PROCS);
    for (let p = 0; p < PROCS; p++) {
      const keys = target.keys.slice(1 + p * per, 1 + Math.min(subscribers, (p + 1) * per));
      if (keys.length === 0) continue;
      const child = Bun.spawn([process.execPath, SUBSCRIBER_SCRIPT, target.url, dir.path, String(p * per), ...keys], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
      children.push(child);
      void readLines(child.stdout as ReadableStream<Uint8Array>, (line) => {
        if (line === "ready") ready++;
        else {
          const [n, t] = line.split(" ").map(Number);
          const list = got.get(n);
          if (list) list.push(t);
          else got.set(n, [t]);
        }
        if (line === "ready" || Number(line.split(" ")[0]) === expect) wake();
      });
    }
    const until = async (pred: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!pred() && Date.now() < end) await new Promise<void>((res) => ((wake = res), setTimeout(res, 50)));
    };
    await until(() => ready === children.length, 60_000);
    if (ready !== children.length) throw new Error("bench live: subscriber processes did not all connect within 60 s");
    const warmup = 20;
    for (let i = 0; i < CHANGES + warmup; i++) {
      expect = i;
      writer.put(i);
      await until(() => (got.get(i)?.length ?? 0) >= subscribers, 10_000);
    }
    const starts = await writer.starts();
    const samples: number[] = [];
    for (let i = warmup; i < CHANGES + warmup; i++) for (const at of got.get(i) ?? []) samples.push(at - starts.get(i)!);
    const expected = CHANGES * subscribers;
    samples.sort((x, y) => x - y);
    const label = `${store}, ${subscribers} subscribers over ${children.length} processes`;
    const note = samples.length === expected ? `${CHANGES} changes × ${subscribers}` : `${samples.length} of ${expected} deliveries within 10 s`;
    figures(r, label, samples, note, relaySpread.get(subscribers) ?? relay1);
  } finally {
    writer?.kill();
    for (const c of children) (c.stdin as { end(): void }).end();
    await Promise.all(children.map((c) => Promise.race([c.exited, new Promise((res) => setTimeout(res, 10_000))])));
    for (const c of children) c.kill();
    await target.stop();
    dir.cleanup();
  }
}

/** The bare streams of the fan-out rows, connected (live-readers.ts). */
async function startReaders(url: string, keys: string[]): Promise<{ kill(): void; bytes(): Promise<number> }> {
  const child = Bun.spawn([process.execPath, READERS_SCRIPT, url, ...keys], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const reader = (child.stdout as ReadableStream<Uint8Array>).getReader();
  const { value } = await reader.read();
  if (new TextDecoder().decode(value).trim() !== "ready") throw new Error("bench live: the other streams did not connect");
  return {
    kill: () => child.kill(),
    /** Closes the child's stdin and answers the bytes its streams received. */
    bytes: async () => {
      (child.stdin as { end(): void }).end();
      let text = "";
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
      return Number(text.trim());
    },
  };
}

async function waitConnected(dbs: Stowage[]): Promise<void> {
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    const states = await Promise.all(dbs.map(async (d) => (await d.status()).live.connected));
    if (states.every(Boolean)) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error("bench live: streams did not all connect within 30 s");
}

async function makeKeys(store: Awaited<ReturnType<typeof openServerStore>>, n: number): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < n; i++) keys.push((await createKey(store, "bench", { createIfMissing: true, label: `client ${i}` })).key);
  return keys;
}

/** `stowage serve --data DATA` on a free port, in a child process; answers once it listens. */
async function serveChild(data: string, extra: ServeExtra = {}): Promise<{ proc: ReturnType<typeof Bun.spawn>; url: string }> {
  // BENCH_LIVE_SERVER_FLAGS: runtime flags for the server child (`--cpu-prof-md --cpu-prof-dir=/tmp/p` profiles it).
  const flags = [...(process.env.BENCH_LIVE_SERVER_FLAGS ?? "").split(" ").filter(Boolean), ...(extra.flags ?? [])];
  const cmd = [process.execPath, ...flags, BIN, "serve", "--port", "0", "--json", "--data", data];
  // `ulimit -n` can only be raised for a process from inside it, so through a shell that execs the server.
  const raised = extra.ulimit ? ["sh", "-c", `ulimit -n ${extra.ulimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`, "sh", ...cmd] : cmd;
  // The request log (info, the default) goes to a pipe that is read and dropped, as a service
  // manager's would take it: formatted and written as a user's server does, but not thousands
  // of lines in the bench's output. Its tail is shown if the server fails to start.
  const proc = Bun.spawn(raised, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...extra.env } });
  const tail = drainTail(proc.stderr);
  try {
    return { proc, url: await readUrl(proc) };
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${tail()}`);
  }
}

/** Reads `stream` to its end, keeping only its last 4 KiB (answered by the function returned). */
function drainTail(stream: ReadableStream<Uint8Array>): () => string {
  let tail = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of stream) tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
  })().catch(() => {});
  return () => tail;
}

/** Runtime flags and environment for a server child (the live profile preloads its probe). */
export interface ServeExtra {
  flags?: string[];
  env?: Record<string, string>;
  /** Open files the server may hold (`ulimit -n`; the hard limit where this is above it). */
  ulimit?: number;
}

/** `stowage serve` over a fresh SQLite file (default limits), as a child process. */
export async function sqliteTarget(clients: number, extra: ServeExtra = {}): Promise<Target> {
  const tmp = tempDir("stowage-bench-live-srv-");
  const data = tmp.file("server.db");
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: data }) });
  const keys = await makeKeys(store, clients);
  await store.close();
  const { proc, url } = await serveChild(data, extra);
  return {
    url,
    keys,
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      tmp.cleanup();
    },
  };
}

/** `stowage serve --data postgres://…?schema=…` (default limits), as a child process: as a user runs it. */
export async function pgTarget(clients: number): Promise<Target> {
  const schema = newSchemaName();
  const store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
  const keys = await makeKeys(store, clients);
  await store.close();
  const data = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}`;
  const { proc, url } = await serveChild(data);
  return {
    url,
    keys,
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      await dropSchema(schema);
    },
  };
}
