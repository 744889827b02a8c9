/**
 * A partial-sync chaos client process: `bun chaos/partial-client.ts '<json PartialClientConfig>'`.
 * Like chaos/client.ts (run mode until killed; finish mode drains, waits for `final` on stdin,
 * syncs once more, prints `done`), with subscriptions: it subscribes and unsubscribes mid-sync
 * and writes documents across filters (owner, shared, tag, n). Every request's subs, every
 * change the server answered (pull pages, live events, push answers, document GETs) and every
 * local snapshot with the subscriptions it was taken under go to the history file, one JSON
 * line per append.
 */
import { appendFileSync } from "node:fs";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { openStowage } from "../src/stowage.ts";
import type { FetchFn } from "../src/sync/v1/http.ts";
import { SseParser } from "../src/sync/v1/live/sse.ts";
import { PRINCIPALS, SUB_POOL, TAGS, type Sub } from "./partial-schedule.ts";
import { Rng } from "./prng.ts";
import { exitWhenRunnerGone } from "./orphan.ts";

export interface PartialClientConfig {
  mode: "run" | "finish";
  proc: string;
  file: number;
  db: string;
  url: string;
  token: string;
  principal: string;
  history: string;
  seed: number;
  keys: number;
  /** Subscriptions to open with (first incarnation); later ones keep the persisted ones. */
  subs: Sub[] | null;
  pullLimit: number;
  autoSync: boolean;
  syncIntervalMs: number;
  live: boolean;
  pauseMs: [number, number];
}

const cfg = JSON.parse(process.argv[2] ?? "{}") as PartialClientConfig;
const COLLECTION = "docs";
const log = (o: Record<string, unknown>) => {
  appendFileSync(cfg.history, `${JSON.stringify({ p: cfg.proc, f: cfg.file, at: Date.now(), ...o })}\n`);
  if (o.t === "ok" && cfg.mode === "run") process.stdout.write("ok\n");
};
const rng = new Rng(cfg.seed);
type Change = { collection: string; id: string; version: number; deleted: boolean; left?: boolean; value: Record<string, unknown> | null };
const brief = (c: Change) => [c.collection, c.id, c.version, c.value, c.deleted, c.left === true];
const subsOf = (url: URL) => {
  const s = url.searchParams.get("subs");
  return s === null ? null : (JSON.parse(s) as Sub[]);
};

/** Records every answer the real server sent, with the subscriptions the request asked for. */
const traced: FetchFn = async (input, init) => {
  const url = new URL(input);
  if (cfg.mode === "run" && (url.pathname === "/v1/push" || url.pathname === "/v1/pull")) process.stdout.write(`req ${url.pathname.slice(4)}\n`);
  if (url.pathname === "/v1/push" && typeof init?.body === "string") {
    const req = JSON.parse(init.body) as { clientId: string; ops: { opId: number; op: string; id: string; value?: { w?: string } }[] };
    log({ t: "pushreq", clientId: req.clientId, ops: req.ops.map((o) => [o.opId, o.op, o.id, o.value?.w ?? null]) });
  }
  const res = await globalThis.fetch(input, init);
  if (url.pathname === "/v1/pull" && res.status === 400) log({ t: "pull400", body: (await res.clone().text()).slice(0, 300) });
  if (!res.ok) return res;
  if (url.pathname === "/v1/events") return logEvents(res, subsOf(url));
  const text = await res.clone().text().catch(() => null);
  if (text === null) return res;
  try {
    const body = JSON.parse(text);
    if (url.pathname === "/v1/push") {
      const clientId = (JSON.parse(String(init?.body)) as { clientId: string }).clientId;
      log({ t: "pushres", clientId, results: (body.results as { opId: number; status: string; version?: number; value?: unknown; error?: { code?: string } }[]).map((r) => [r.opId, r.status, r.version ?? null, r.value ?? null, r.error?.code ?? null]) });
    } else if (url.pathname === "/v1/pull") {
      const have = url.searchParams.get("have");
      if (body.reset) log({ t: "pullreset" });
      else log({ t: "pull", subs: subsOf(url), have: have ? JSON.parse(have) : null, from: url.searchParams.get("cursor"), cursor: body.cursor, changes: (body.changes as Change[]).map(brief) });
    } else if (url.pathname.startsWith("/v1/docs")) {
      // GET one: { collection?, id, version, value }; a list: { items }. Either way, every value it carries.
      const items = Array.isArray(body.items) ? body.items : [body];
      log({ t: "docs", path: url.pathname, values: items.map((d: { value?: unknown }) => d.value ?? d) });
    }
  } catch {
    // not ours to judge here: the engine reports malformed answers itself
  }
  return res;
};

function logEvents(res: Response, subs: Sub[] | null): Response {
  if (!res.body) return res;
  const decoder = new TextDecoder();
  const parser = new SseParser({
    onMessage(m) {
      try {
        const data = JSON.parse(m.data) as { changes?: Change[]; cursor?: string };
        if (data.changes) log({ t: "pull", via: "event", subs, have: null, cursor: data.cursor, changes: data.changes.map(brief) });
      } catch {
        log({ t: "event", raw: m.data.slice(0, 200) });
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
  return new Response(body, { status: res.status, headers: res.headers });
}

const db = await openStowage({
  adapter: createBunSqliteAdapter({ path: cfg.db }),
  url: cfg.url,
  getToken: () => cfg.token,
  env: {},
  syncIntervalMs: cfg.syncIntervalMs,
  autoSync: cfg.autoSync,
  pullLimit: cfg.pullLimit,
  backoff: { baseMs: 20, maxMs: 250 },
  live: cfg.live,
  fetch: traced,
  ...(cfg.subs ? { subscriptions: cfg.subs as never } : {}),
});
const docs = db.collection(COLLECTION);

/** Odd while a subscribe/unsubscribe runs; a snapshot is judged only when it is even and unchanged. */
let subsEpoch = 0;
/** The subscriptions held; [] is the whole tenant (the library answers null for it). */
const currentSubs = async (): Promise<(Sub & { id?: string })[]> => ((await db.subscriptions()) ?? []) as (Sub & { id?: string })[];
log({ t: "start", clientId: (await db.status()).clientId, mode: cfg.mode, principal: cfg.principal, subs: await currentSubs() });
process.stdout.write("ready\n");

async function snapshot(kind: string): Promise<void> {
  const epoch = subsEpoch;
  const before = await currentSubs();
  const [rows, outbox] = await db.transaction(async (tx) => [
    await tx.sql<{ id: string; body: string; version: number | null }>("select id, body, version from _stowage_docs where collection = ?", [COLLECTION]),
    await tx.sql<{ id: string }>("select id from _stowage_outbox where collection = ?", [COLLECTION]),
  ] as const);
  const after = await currentSubs();
  const stable = epoch === subsEpoch && epoch % 2 === 0 && JSON.stringify(before) === JSON.stringify(after);
  log({ t: "read", kind, subs: stable ? after : null, pending: [...new Set(outbox.map((r) => r.id))], docs: rows.map((r) => [r.id, JSON.parse(r.body), r.version]) });
}
db.on("pulled", () => void snapshot("pulled").catch(() => {}));

let n = 0;
const keyName = (i: number) => `k${i}`;
async function op(): Promise<void> {
  const k = ++n;
  const tok = `${cfg.proc}/${k}`;
  const r = rng.next();
  const id = keyName(rng.int(0, cfg.keys - 1));
  // Mostly our own documents; now and then someone else's (the write rule refuses some).
  const owner = rng.chance(0.8) ? cfg.principal : rng.pick(PRINCIPALS);
  try {
    if (r < 0.25) {
      const value = { id, owner, shared: rng.chance(0.4), tag: rng.pick(TAGS), n: rng.int(0, 9), w: tok };
      log({ t: "invoke", n: k, kind: "put", id, tok, value });
      await docs.put(value);
      log({ t: "ok", n: k });
    } else if (r < 0.5) {
      if (!(await docs.get(id))) return;
      // One indexed field changes: the document may move across filters, or shared -> private.
      const field = rng.pick(["shared", "tag", "n", "owner"] as const);
      const patch: Record<string, unknown> = { w: tok };
      if (field === "shared") patch.shared = rng.chance(0.5);
      else if (field === "tag") patch.tag = rng.pick(TAGS);
      else if (field === "n") patch.n = rng.int(0, 9);
      else patch.owner = owner;
      log({ t: "invoke", n: k, kind: "patch", id, tok, patch });
      await docs.patch(id, patch);
      log({ t: "ok", n: k });
    } else if (r < 0.58) {
      log({ t: "invoke", n: k, kind: "delete", id });
      await docs.delete(id);
      log({ t: "ok", n: k });
    } else if (r < 0.68) {
      const sub = SUB_POOL[rng.int(0, SUB_POOL.length - 1)];
      log({ t: "invoke", n: k, kind: "subscribe", sub });
      subsEpoch++;
      try {
        await db.subscribe(sub.collection, sub.where ? { where: sub.where as never } : {});
      } finally {
        subsEpoch++;
      }
      log({ t: "ok", n: k, subs: await currentSubs() });
    } else if (r < 0.76) {
      const held = await currentSubs();
      // Never the last one: no subscriptions at all means the whole tenant.
      if (held.length < 2) return;
      const drop = held[rng.int(0, held.length - 1)];
      log({ t: "invoke", n: k, kind: "unsubscribe", sub: drop });
      subsEpoch++;
      try {
        await db.unsubscribe(drop.id ?? (drop as never));
      } finally {
        subsEpoch++;
      }
      log({ t: "ok", n: k, subs: await currentSubs() });
    } else if (r < 0.88) {
      await snapshot("snap");
    } else {
      log({ t: "invoke", n: k, kind: "sync" });
      const res = await db.sync();
      log({ t: "ok", n: k, pushed: res.pushed, pulled: res.pulled, reset: res.reset });
    }
  } catch (e) {
    log({ t: "fail", n: k, err: String((e as Error)?.message ?? e).slice(0, 200) });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (cfg.mode === "run") {
  exitWhenRunnerGone();
  for (;;) {
    await op();
    await sleep(rng.int(cfg.pauseMs[0], cfg.pauseMs[1]));
  }
} else {
  for (;;) {
    try {
      const res = await db.sync();
      log({ t: "sync", pushed: res.pushed, pulled: res.pulled, reset: res.reset });
      if (res.leased && (await db.status()).outbox.size === 0) break;
      if (!res.leased) await sleep(100);
    } catch (e) {
      log({ t: "syncfail", err: String((e as Error)?.message ?? e).slice(0, 200) });
      await sleep(50);
    }
  }
  process.stdout.write("drained\n");
  for await (const chunk of process.stdin) if (String(chunk).includes("final")) break;
  for (let i = 0; i < 50; i++) {
    try {
      await db.sync();
      break;
    } catch {
      await sleep(50);
    }
  }
  await snapshot("final");
  log({ t: "final", subs: await currentSubs() });
  await db.close();
  process.stdout.write("done\n");
  process.exit(0);
}
