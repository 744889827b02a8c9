import { join } from "node:path";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { createPostgresAdapter } from "../adapters/postgres/index.ts";
import { createKey, openServerStore } from "../src/server/index.ts";
import { openStowage, type Stowage } from "../src/stowage.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable } from "../test/helpers/pg.ts";
import { readUrl } from "../test/helpers/server.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { relayLatencies } from "./live-anchor.ts";
import { pgPushAnchors } from "./live-pg-anchor.ts";
import { percentile, type Reporter } from "./report.ts";

const SECTION = "live (A's put → B's watch callback, server in its own process, loopback)";
const CHANGES = Number(process.env.BENCH_LIVE_CHANGES ?? 1000);
const SUBSCRIBERS = (process.env.BENCH_LIVE_SUBSCRIBERS ?? "1,10,100").split(",").map(Number);
const BIN = join(import.meta.dir, "../src/cli/bin.ts");
/**
 * BENCH_LIVE_PROCS=k (default 0: off) also measures each subscriber count of at least k with
 * the subscribers spread over k child processes (live-subscribers.ts), next to the
 * in-process layout: closer to separate devices, since one event loop no longer serves all.
 */
const PROCS = Number(process.env.BENCH_LIVE_PROCS ?? 0);
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
 * Propagation latency of one change to N live subscribers: A puts a document (clock starts
 * before the call), every subscriber's live query (`watch`, default options: live stream on,
 * 60 s interval) fires with it (clock stops in the callback). Changes go one at a time (the
 * next once every subscriber has the previous), so each figure is an unloaded latency; the
 * percentiles are over every delivery (changes × subscribers). All subscribers live in this
 * one process, so with 100 of them a delivery also waits for the others' pulls and queries on
 * this event loop: the 100-subscriber figures are an upper bound for 100 separate devices
 * (BENCH_LIVE_PROCS=k adds rows with them spread over k child processes; on a machine with
 * fewer cores than that, they still share the CPU).
 * The anchor, measured first in the same run: a bare SSE relay in its own process (one POST,
 * one event to one subscriber, nothing stored; live-anchor.ts), the floor of any live sync over
 * HTTP on this machine; each figure is also given as a multiple of it. With PostgreSQL, more
 * anchors: a one-op push's transaction from bare node-postgres and the server's push() in
 * process (pipelined and not), each back to back and 2 ms apart (live-pg-anchor.ts).
 * BENCH_LIVE_CHANGES (default 1000) and BENCH_LIVE_SUBSCRIBERS (default 1,10,100) shorten runs.
 */
export default async function liveBench(r: Reporter): Promise<void> {
  const pg = await pgAvailable("bench live").catch(() => false);
  const relay = await relayLatencies(CHANGES);
  floor = { p50: percentile(relay, 50), p95: percentile(relay, 95), p99: percentile(relay, 99) };
  const relayLabel = "anchor: a bare SSE relay in its own process (one POST, one event; no storage, auth or apply), 1 subscriber";
  r.figure(SECTION, `${relayLabel}: p50`, floor.p50, "ms", { note: `${CHANGES} changes` });
  r.figure(SECTION, `${relayLabel}: p95`, floor.p95, "ms");
  r.figure(SECTION, `${relayLabel}: p99`, floor.p99, "ms");
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
    if (n > 1) await measure(r, "sqlite (stowage serve)", n, await sqliteTarget(n + 1), true);
    if (pg && n > 1) await measure(r, "postgres", n, await pgTarget(n + 1), true);
  }
  if (!pg) r.log(`bench live: PostgreSQL at ${PG_URL} unreachable: no PostgreSQL rows`);
}

/**
 * With `fanout`, one subscriber is a full client in this process, measured, and the other
 * subscribers-1 are bare event streams in a child process (live-readers.ts) that receive every
 * event: the server fans out to every stream as before, but the other devices' apply and
 * query work, which on real devices runs on their own CPUs, is not on this machine's two
 * cores. The rows say so; the rows without it keep every subscriber a full client here.
 */
async function measure(r: Reporter, store: string, subscribers: number, target: Target, fanout = false): Promise<void> {
  const dir = tempDir("stowage-bench-live-");
  const open: Stowage[] = [];
  const offs: (() => void)[] = [];
  let readers: Awaited<ReturnType<typeof startReaders>> | undefined;
  const full = fanout ? 1 : subscribers;
  try {
    const client = async (name: string) => {
      const apiKey = target.keys[open.length];
      const db = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`${name}.db`) }), url: target.url, apiKey, env: {} });
      open.push(db);
      return db;
    };
    const a = await client("writer");
    let expect = -1;
    let start = 0;
    let pending = 0;
    let done: () => void = () => {};
    const samples: number[] = [];
    if (fanout) readers = await startReaders(target.url, target.keys.slice(2, subscribers + 1));
    for (let i = 0; i < full; i++) {
      const b = await client(`sub${i}`);
      let seen = -1;
      // The newest document only: the query stays one row however many were written.
      offs.push(
        b.collection("lat").watch({ orderBy: "-n", limit: 1 }, (items) => {
          const n = (items[0]?.n as number | undefined) ?? -1;
          if (n === expect && seen !== n) {
            samples.push(performance.now() - start);
            if (--pending === 0) done();
          }
          seen = n;
        }),
      );
    }
    await waitConnected(open);
    const lat = a.collection("lat");
    const warmup = 20;
    for (let i = 0; i < CHANGES + warmup; i++) {
      const all = new Promise<void>((resolve) => (done = resolve));
      pending = full;
      expect = i;
      start = performance.now();
      await lat.put({ id: `d${i % 50}`, n: i });
      const timeout = setTimeout(() => done(), 10_000); // a lost change shows as a missing sample, not a hang
      await all;
      clearTimeout(timeout);
      if (i === warmup - 1) samples.length = 0; // JIT, statement caches, first pulls
    }
    const expected = CHANGES * full;
    samples.sort((x, y) => x - y);
    const label = fanout ? `${store}, ${subscribers} subscribers (1 measured client + ${subscribers - 1} streams in another process)` : `${store}, ${subscribers} subscriber${subscribers === 1 ? "" : "s"}`;
    const note = samples.length === expected ? `${CHANGES} changes × ${full}` : `${samples.length} of ${expected} deliveries within 10 s`;
    figures(r, label, samples, note);
    if (readers) {
      const bytes = await readers.bytes();
      if (!(bytes > 0)) throw new Error("bench live: the other streams received nothing");
      r.log(`bench live: the ${subscribers - 1} other streams received ${(bytes / (subscribers - 1) / 1024).toFixed(0)} KiB each`);
    }
  } finally {
    readers?.kill();
    for (const off of offs) off();
    for (const db of open) await db.close().catch(() => {});
    await target.stop();
    dir.cleanup();
  }
}

/** The bare relay's percentiles, measured first (live-anchor.ts): each figure is also given as a multiple of them. */
let floor: { p50: number; p95: number; p99: number } | undefined;

function figures(r: Reporter, label: string, samples: number[], note: string): void {
  const times = (p: number, of: number | undefined) => (of ? `; ${(p / of).toFixed(1)}x the bare relay` : "");
  const p50 = percentile(samples, 50);
  const p95 = percentile(samples, 95);
  const p99 = percentile(samples, 99);
  r.figure(SECTION, `${label}: p50`, p50, "ms", { note: note + times(p50, floor?.p50) });
  r.figure(SECTION, `${label}: p95`, p95, "ms", { note: times(p95, floor?.p95).slice(2) || undefined });
  r.figure(SECTION, `${label}: p99`, p99, "ms", { note: times(p99, floor?.p99).slice(2) || undefined });
}

/** measure(), with the subscribers in PROCS child processes; latency from A's put to each child's callback (one machine clock). */
async function measureSpread(r: Reporter, store: string, subscribers: number, target: Target): Promise<void> {
  const dir = tempDir("stowage-bench-live-");
  const children: ReturnType<typeof Bun.spawn>[] = [];
  let writer: Stowage | undefined;
  try {
    writer = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file("writer.db") }), url: target.url, apiKey: target.keys[0], env: {} });
    const startAt = new Map<number, number>();
    const got = new Map<number, number>();
    const samples: number[] = [];
    let ready = 0;
    let wake: () => void = () => {};
    let expect = -1;
    const per = Math.ceil(subscribers / PROCS);
    for (let p = 0; p < PROCS; p++) {
      const keys = target.keys.slice(1 + p * per, 1 + Math.min(subscribers, (p + 1) * per));
      if (keys.length === 0) continue;
      const child = Bun.spawn([process.execPath, SUBSCRIBER_SCRIPT, target.url, dir.path, String(p * per), ...keys], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
      children.push(child);
      void (async () => {
        let buf = "";
        for await (const chunk of child.stdout as ReadableStream<Uint8Array>) {
          buf += new TextDecoder().decode(chunk);
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line === "ready") ready++;
            else {
              const [n, t] = line.split(" ").map(Number);
              const start = startAt.get(n);
              if (start !== undefined) samples.push(t - start);
              got.set(n, (got.get(n) ?? 0) + 1);
            }
            if (line === "ready" || Number(line.split(" ")[0]) === expect) wake();
          }
        }
      })();
    }
    const until = async (pred: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!pred() && Date.now() < end) await new Promise<void>((res) => ((wake = res), setTimeout(res, 50)));
    };
    await until(() => ready === children.length, 60_000);
    if (ready !== children.length) throw new Error("bench live: subscriber processes did not all connect within 60 s");
    const lat = writer.collection("lat");
    const warmup = 20;
    for (let i = 0; i < CHANGES + warmup; i++) {
      expect = i;
      startAt.set(i, performance.timeOrigin + performance.now());
      await lat.put({ id: `d${i % 50}`, n: i });
      await until(() => (got.get(i) ?? 0) >= subscribers, 10_000);
      if (i === warmup - 1) samples.length = 0;
    }
    const expected = CHANGES * subscribers;
    samples.sort((x, y) => x - y);
    const label = `${store}, ${subscribers} subscribers over ${children.length} processes`;
    const note = samples.length === expected ? `${CHANGES} changes × ${subscribers}` : `${samples.length} of ${expected} deliveries within 10 s`;
    figures(r, label, samples, note);
  } finally {
    for (const c of children) (c.stdin as { end(): void }).end();
    await Promise.all(children.map((c) => Promise.race([c.exited, new Promise((res) => setTimeout(res, 10_000))])));
    for (const c of children) c.kill();
    await writer?.close().catch(() => {});
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
  const proc = Bun.spawn([process.execPath, ...flags, BIN, "serve", "--port", "0", "--json", "--data", data], { stdout: "pipe", stderr: "inherit", env: { ...process.env, ...extra.env } });
  return { proc, url: await readUrl(proc) };
}

/** Runtime flags and environment for a server child (the live profile preloads its probe). */
export interface ServeExtra {
  flags?: string[];
  env?: Record<string, string>;
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
