/**
 * A chaos client process: `bun chaos/client.ts '<json ClientConfig>'`.
 *
 * `run` mode does random ops on a small key space until it is killed (it never exits on its
 * own); `finish` mode does no ops: it syncs until its outbox is empty, prints `drained`, waits
 * for a `final` line on stdin, runs one more full cycle, prints `done` and exits.
 *
 * Every op, read, sync and every request/answer the sync engine exchanges is appended to the
 * history file as one JSON line, written with one append(2) before the next step: a SIGKILL
 * loses nothing already written, and an op with an `invoke` line but no `ok`/`fail` line is
 * indeterminate.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { openStowage } from "../src/stowage.ts";
import { systemClock } from "../src/sync/clock.ts";
import type { FetchFn } from "../src/sync/v1/http.ts";
import { SseParser } from "../src/sync/v1/live/sse.ts";
import { Rng } from "./prng.ts";
import { exitWhenRunnerGone } from "./orphan.ts";

export interface ClientConfig {
  mode: "run" | "finish";
  /** Unique per process incarnation in a run, e.g. `c1.2`; tokens start with it. */
  proc: string;
  /** Index of the SQLite file (two processes may share one). */
  file: number;
  db: string;
  url: string;
  key: string;
  /** When set, the bearer token is this file's content, read by getToken (auth faults, schedule.ts). */
  tokenFile?: string;
  history: string;
  seed: number;
  keys: number;
  pullLimit: number;
  autoSync: boolean;
  syncIntervalMs: number;
  leaseTtlMs: number;
  /** Pause between ops, ms. */
  pauseMs: [number, number];
  /** Added to the engine's injected clock (when libfaketime is not used). */
  skewMs: number;
  /** Op mix: `groups` favours groups with patch members and deletes (refused members). */
  mix: "default" | "groups" | "rw";
  /** Open the live stream (background sync only) and watch the collection. */
  live: boolean;
  /** The collection is strict (stale writes answer `conflict`). */
  strict: boolean;
  /** Now and then a burst of 1,001-1,300 puts in one call (schedule.ts says why). */
  bursts: boolean;
  /** A burst as the third op, whatever the draws say (the `bursts` focus). */
  burstEarly?: boolean;
}

/** Upper bounds of each op kind's share of draws, in order: put, patch, delete, group, get, snap; the rest sync. */
const MIXES: Record<ClientConfig["mix"], number[]> = {
  default: [0.22, 0.4, 0.48, 0.63, 0.73, 0.85],
  groups: [0.15, 0.25, 0.4, 0.75, 0.8, 0.9],
  // Reads of the document just written, right after writing it (read-your-writes pressure).
  rw: [0.25, 0.4, 0.45, 0.55, 0.85, 0.9],
};
let lastWritten: string | null = null;

const cfg = JSON.parse(process.argv[2] ?? "{}") as ClientConfig;
const COLLECTION = "docs";
const log = (o: Record<string, unknown>) => {
  appendFileSync(cfg.history, `${JSON.stringify({ p: cfg.proc, f: cfg.file, at: Date.now(), ...o })}\n`);
  // The runner counts acknowledged ops to stretch a slow run's fault phase (see run.ts); a
  // burst counts once.
  if (o.t === "ok" && cfg.mode === "run" && o.more !== true) process.stdout.write("ok\n");
};
const rng = new Rng(cfg.seed);
/** The bursts' own draws: the op stream of `rng` stays what it was without them. */
const burstRng = new Rng(cfg.seed ^ 0x5bd1e995);
const keyName = (i: number) => `k${i}`;

/** Records every push and pull as the engine sees it (requests before they leave). */
const traced: FetchFn = async (input, init) => {
  const url = new URL(input);
  // Tells the runner a request is leaving, so it can SIGKILL this process mid-push or mid-pull.
  if (cfg.mode === "run" && (url.pathname === "/v1/push" || url.pathname === "/v1/pull")) process.stdout.write(`req ${url.pathname.slice(4)}\n`);
  if (url.pathname === "/v1/push" && typeof init?.body === "string") {
    const req = JSON.parse(init.body) as { clientId: string; ops: { opId: number; tx?: number; op: string; id: string; value?: { w?: string; g?: string } }[] };
    log({ t: "pushreq", clientId: req.clientId, ops: req.ops.map((o) => [o.opId, o.op, o.id, o.value?.w ?? null, o.tx ?? null, o.value?.g ?? null]) });
  }
  const res = await globalThis.fetch(input, init);
  if (!res.ok) return res;
  if (url.pathname === "/v1/events") return logEvents(res);
  const text = await res.clone().text().catch(() => null);
  if (text === null) return res;
  try {
    if (url.pathname === "/v1/push") {
      const body = JSON.parse(text) as { results: { opId: number; status: string; version?: number; value?: { w?: string } | null }[] };
      const clientId = (JSON.parse(String(init?.body)) as { clientId: string }).clientId;
      log({ t: "pushres", clientId, results: body.results.map((r) => [r.opId, r.status, r.version ?? null, r.value?.w ?? null]) });
    } else if (url.pathname === "/v1/pull") {
      const body = JSON.parse(text) as { reset?: boolean; changes?: { id: string; version: number; deleted: boolean; value: { w?: string; g?: string } | null }[]; cursor?: string };
      if (body.reset) log({ t: "pullreset" });
      else log({ t: "pull", cursor: body.cursor, changes: body.changes!.map((c) => [c.id, c.version, c.value?.w ?? null, c.deleted, c.value?.g ?? null]) });
    } else if (url.pathname.startsWith("/v1/docs/")) {
      const body = JSON.parse(text) as { id: string; version: number; value: { w?: string } };
      log({ t: "getdoc", id: body.id, version: body.version, w: body.value?.w ?? null });
    }
  } catch {
    // not ours to judge here: the engine reports malformed answers itself
  }
  return res;
};

/**
 * Logs every event of a live stream as the engine receives it, passing the bytes through
 * untouched; cancelling the stream (the engine's reconnect) still reaches the connection.
 */
function logEvents(res: Response): Response {
  if (!res.body) return res;
  const decoder = new TextDecoder();
  const parser = new SseParser({
    onMessage(m) {
      try {
        const data = JSON.parse(m.data) as { seq: number; prev?: number; cursor?: string; changes?: { id: string; version: number; deleted: boolean; value: { w?: string; g?: string } | null }[] };
        log({ t: "event", id: m.lastEventId, seq: data.seq, prev: data.prev ?? null, changes: data.changes?.length ?? null });
        // An event that carries its commit's changes is a pull page the server showed (the
        // checker learns versions from it), whether or not the engine applies it.
        if (data.changes) log({ t: "pull", via: "event", cursor: data.cursor, changes: data.changes.map((c) => [c.id, c.version, c.value?.w ?? null, c.deleted, c.value?.g ?? null]) });
      } catch {
        log({ t: "event", id: m.lastEventId, raw: m.data.slice(0, 200) });
      }
    },
  });
  const body = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        out.enqueue(chunk);
      },
    }),
  );
  log({ t: "stream", status: res.status });
  return new Response(body, { status: res.status, headers: res.headers });
}

const clock = cfg.skewMs ? { ...systemClock, now: () => Date.now() + cfg.skewMs } : undefined;
const db = await openStowage({
  adapter: createBunSqliteAdapter({ path: cfg.db }),
  url: cfg.url,
  ...(cfg.tokenFile ? { getToken: () => readFileSync(cfg.tokenFile!, "utf8").trim() } : { apiKey: cfg.key }),
  env: {},
  syncIntervalMs: cfg.syncIntervalMs,
  autoSync: cfg.autoSync,
  pullLimit: cfg.pullLimit,
  leaseTtlMs: cfg.leaseTtlMs,
  backoff: { baseMs: 20, maxMs: 250 },
  live: cfg.live,
  fetch: traced,
  clock,
});
const docs = db.collection(COLLECTION, cfg.strict ? { strict: true } : {});
log({ t: "start", clientId: (await db.status()).clientId, mode: cfg.mode });
process.stdout.write("ready\n");

/** One consistent view of every local document: one read inside one local transaction. */
async function snapshot(kind: string): Promise<void> {
  // The applied pull cursor is read in the same transaction: the checker's "missed" rule.
  // So are the documents waiting for their server value and the refusals recorded so far:
  // with none waiting, no refused write may be visible (the checker's "lingering" rule).
  const [rows, meta, waiting, refused] = await db.transaction(async (tx) => [
    await tx.sql<{ id: string; body: string }>("select id, body from _stowage_docs where collection = ?", [COLLECTION]),
    await tx.sql<{ value: string }>("select value from _stowage_meta where key = 'sync_cursor'"),
    await tx.sql<{ n: number }>("select count(*) as n from _stowage_refresh"),
    await tx.sql<{ op_id: number }>("select op_id from _stowage_conflicts where collection = ?", [COLLECTION]),
  ] as const);
  const view: Record<string, [string | null, string | null]> = {};
  for (const r of rows) {
    const v = JSON.parse(r.body) as { w?: string; g?: string | null };
    view[r.id] = [v.w ?? null, v.g ?? null];
  }
  const unresolved = Number(waiting[0]?.n ?? 0);
  log({ t: "read", kind, docs: view, cursor: meta[0]?.value ?? null, ...(unresolved ? { unresolved } : { refusedOps: refused.map((r) => r.op_id) }) });
}

db.on("pulled", () => {
  snapshot("event").catch(() => {});
});

// A live query: each result it calls back with is a view the atomic rule judges (no cursor:
// its read is not the cursor's transaction, so the missed rule leaves it out).
if (cfg.live) {
  docs.watch({ limit: 1000 }, (items) => {
    const view: Record<string, [string | null, string | null]> = {};
    for (const d of items as { id: string; w?: string; g?: string | null }[]) view[d.id] = [d.w ?? null, d.g ?? null];
    log({ t: "read", kind: "watch", docs: view });
  });
}

let n = 0;
let burstedEarly = false;
async function op(): Promise<void> {
  if (cfg.burstEarly && !burstedEarly && n >= 2) {
    burstedEarly = true;
    return burst();
  }
  if (cfg.bursts && burstRng.chance(0.01)) return burst();
  const k = ++n;
  const tok = `${cfg.proc}/${k}`;
  const r = rng.next();
  const [pPut, pPatch, pDel, pGroup, pGet, pSnap] = MIXES[cfg.mix ?? "default"];
  const drawn = keyName(rng.int(0, cfg.keys - 1));
  const id = cfg.mix === "rw" && r >= pGroup && r < pGet && lastWritten ? lastWritten : drawn;
  if (r < pPatch) lastWritten = id;
  try {
    if (r < pPut) {
      const direct = rng.chance(0.5);
      log({ t: "invoke", n: k, kind: "put", id, tok, direct });
      const value = { id, w: tok, g: null, by: cfg.proc };
      if (direct) {
        await docs.put(value);
        log({ t: "ok", n: k });
      } else {
        const opIds = await db.transaction(async (tx) => {
          await tx.collection(COLLECTION).put(value);
          return lastOps(tx, 1);
        });
        log({ t: "ok", n: k, opIds });
      }
    } else if (r < pPatch) {
      if (!(await docs.get(id))) return;
      const field = `f${rng.int(0, 3)}`;
      log({ t: "invoke", n: k, kind: "patch", id, tok });
      await docs.patch(id, { w: tok, g: null, [field]: tok });
      log({ t: "ok", n: k });
    } else if (r < pDel) {
      log({ t: "invoke", n: k, kind: "delete", id });
      const opIds = await db.transaction(async (tx) => {
        await tx.collection(COLLECTION).delete(id);
        return lastOps(tx, 1);
      });
      log({ t: "ok", n: k, opIds });
    } else if (r < pGroup) {
      const size = rng.int(2, Math.min(5, cfg.keys));
      const ids = rng.sample(Array.from({ length: cfg.keys }, (_, i) => keyName(i)), size);
      const g = `G${tok}`;
      const members = ids.map((mid, i) => [mid, rng.chance(cfg.mix === "groups" ? 0.6 : 0.3) ? "patch" : "put", `${tok}.${i}`] as [string, string, string]);
      log({ t: "invoke", n: k, kind: "group", g, members });
      const opIds = await db.transaction(async (tx) => {
        const c = tx.collection(COLLECTION);
        for (const [mid, how, mtok] of members) {
          // A patch of a document this replica does not hold fails locally, and so does the whole group.
          if (how === "patch") await c.patch(mid, { w: mtok, g, f9: mtok });
          else await c.put({ id: mid, w: mtok, g, by: cfg.proc });
        }
        return lastOps(tx, members.length);
      });
      log({ t: "ok", n: k, opIds });
    } else if (r < pGet) {
      log({ t: "invoke", n: k, kind: "get", id });
      const d = (await docs.get(id)) as { w?: string; g?: string | null } | undefined;
      log({ t: "read", n: k, kind: "get", docs: { [id]: d ? [d.w ?? null, d.g ?? null] : null } });
    } else if (r < pSnap) {
      log({ t: "invoke", n: k, kind: "snap" });
      await snapshot("snap");
    } else {
      log({ t: "invoke", n: k, kind: "sync" });
      const res = await db.sync();
      log({ t: "ok", n: k, leased: res.leased, pushed: res.pushed, pulled: res.pulled, reset: res.reset, issues: res.issues.length });
    }
  } catch (e) {
    log({ t: "fail", n: k, err: String((e as Error)?.message ?? e).slice(0, 200) });
  }
}

/**
 * 1,001-1,300 puts of the run's keys in one putMany (no group): each is its own op with its own
 * token, logged as a put, so every rule judges them as usual; the outbox then needs several
 * push batches.
 */
async function burst(): Promise<void> {
  const items = Array.from({ length: burstRng.int(1001, 1300) }, () => {
    const k = ++n;
    return { k, id: keyName(burstRng.int(0, cfg.keys - 1)), tok: `${cfg.proc}/${k}` };
  });
  for (const it of items) log({ t: "invoke", n: it.k, kind: "put", id: it.id, tok: it.tok, direct: true });
  try {
    await docs.putMany(items.map((it) => ({ id: it.id, w: it.tok, g: null, by: cfg.proc })));
    items.forEach((it, i) => log({ t: "ok", n: it.k, ...(i > 0 ? { more: true } : {}) }));
  } catch (e) {
    for (const it of items) log({ t: "fail", n: it.k, err: String((e as Error)?.message ?? e).slice(0, 200) });
  }
}

/** The op ids this transaction just queued: the newest outbox rows, read inside it. */
async function lastOps(tx: { sql<R>(q: string, p?: unknown[]): Promise<R[]> }, count: number): Promise<[number, string, string][]> {
  const rows = await tx.sql<{ op_id: number; id: string; op: string }>("select op_id, id, op from _stowage_outbox order by op_id desc limit ?", [count]);
  return rows.reverse().map((r) => [r.op_id, r.id, r.op]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (cfg.mode === "run") {
  exitWhenRunnerGone();
  for (;;) {
    await op();
    await sleep(rng.int(cfg.pauseMs[0], cfg.pauseMs[1]));
  }
} else {
  // Drain: every queued op reaches the server (or is refused and recorded).
  for (let i = 0; ; i++) {
    try {
      const res = await db.sync();
      log({ t: "sync", leased: res.leased, pushed: res.pushed, pulled: res.pulled, reset: res.reset, unresolved: res.unresolved?.length ?? 0 });
      if (res.leased && !res.unresolved && (await db.status()).outbox.size === 0) break;
      if (!res.leased) await sleep(100);
    } catch (e) {
      log({ t: "syncfail", err: String((e as Error)?.message ?? e).slice(0, 200) });
      await sleep(50);
    }
  }
  process.stdout.write("drained\n");
  const reader = Bun.stdin.stream().getReader();
  let text = "";
  while (!text.includes("final")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  for (;;) {
    try {
      const res = await db.sync();
      log({ t: "sync", leased: res.leased, pushed: res.pushed, pulled: res.pulled, reset: res.reset, unresolved: res.unresolved?.length ?? 0, final: true });
      if (res.leased && !res.unresolved) break;
      await sleep(100);
    } catch (e) {
      log({ t: "syncfail", err: String((e as Error)?.message ?? e).slice(0, 200), final: true });
      await sleep(50);
    }
  }
  await snapshot("final");
  const issues = await db.issues();
  log({ t: "issues", list: issues.map((i) => [i.opId, i.kind, i.id, i.op]) });
  await db.close();
  process.stdout.write("done\n");
  process.exit(0);
}
