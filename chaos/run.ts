/**
 * One seed, end to end: servers, proxies and client processes started, the schedule's faults
 * applied, then everything healed, every file synced to quiescence by a fresh process, and the
 * history checked (check.ts).
 */
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { SignJWT } from "jose";
import { createKey, openServerStore, revokeKey, type ServerStore } from "../src/server/index.ts";
import { gc } from "../src/server/gc.ts";
import { check, type ClientFinal, type Line, type ServerFinal, type Violation } from "./check.ts";
import { readHistories } from "./histories.ts";
import type { ClientConfig } from "./client.ts";
import { Rng, mulberry32 } from "./prng.ts";
import { spawnChild, type Child } from "./procs.ts";
import { HEALTHY, startChaosProxy, type ChaosProxy } from "./proxy.ts";
import { makeSchedule, type Focus, type Schedule, type Store } from "./schedule.ts";
import { CHAOS_STORES, PG_URL } from "./stores.ts";

export const REPO_ROOT = join(import.meta.dir, "..");
export { PG_URL };
/**
 * libfaketime, preloaded directly: the `faketime` command forks and waits for its child, so a
 * SIGKILL to it would orphan the real process. Without the library, client skew goes through
 * the engine's injected clock instead and servers run unskewed.
 */
export const FAKETIME = [
  "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/faketime/libfaketime.so.1",
].find((p) => existsSync(p)) ?? null;

export interface RunOptions {
  seed: number;
  store: Store;
  /** The tree whose chaos/, src/ and adapters/ the processes run (a planted-bug copy, or the repo). */
  root?: string;
  short?: boolean;
  verbose?: boolean;
  /** Weights the schedule toward one area (planted-bug runs). */
  focus?: Focus;
  /** Tombstone GC faults (default true). */
  gc?: boolean;
  /** Judge atomic visibility (default true). */
  atomic?: boolean;
  /** Keep the temp dir (histories, databases) for inspection. */
  keep?: boolean;
  /** Auth faults (default true): schedule.ts AuthPlan. */
  auth?: boolean;
  /**
   * PostgreSQL: the URL the server processes connect through (e.g. PgBouncer in transaction
   * mode), default the test database's; the runner's own checks read it directly.
   */
  pgServerUrl?: string;
  /** PostgreSQL: a streaming standby of the database the server processes read pulls and documents from (`--read-url`). */
  pgReadUrl?: string;
}

export interface RunResult {
  seed: number;
  store: Store;
  schedule: Schedule;
  violations: Violation[];
  ms: number;
  dir: string;
  stats: { ops: number; reads: number; kills: number; serverKills: number; gcs: number; resets: number; dropped: number; duplicated: number; streams: number; events: number; conflicts: number; authFaults: number; rejected: number };
  /** How clock skew was applied. */
  skew: "faketime" | "injected";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSeed(options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const root = options.root ?? REPO_ROOT;
  const schedule = makeSchedule(options.seed, options.store, { short: options.short, gc: options.gc, focus: options.focus, auth: options.auth });
  const dir = mkdtempSync(join(tmpdir(), `stowage-chaos-${options.seed}-`));
  const bun = process.execPath;
  const stats = { ops: 0, reads: 0, kills: 0, serverKills: 0, gcs: 0, resets: 0, dropped: 0, duplicated: 0, streams: 0, events: 0, conflicts: 0, authFaults: 0, rejected: 0 };
  // Where this run keeps its server data (chaos/stores.ts: the one place that knows each store).
  const target = CHAOS_STORES[options.store].prepare(options.seed, dir, { pgServerUrl: options.pgServerUrl, pgReadUrl: options.pgReadUrl });
  const admin: ServerStore = await openServerStore({ adapter: await target.admin() });
  const first = await createKey(admin, "chaos", { createIfMissing: true });
  const { key, tenant } = first;
  const creds = await authCredentials(schedule, admin, dir, first);

  const skewEnv = (skewMs: number): Record<string, string> =>
    FAKETIME && skewMs ? { LD_PRELOAD: FAKETIME, FAKETIME: `${skewMs > 0 ? "+" : ""}${Math.round(skewMs / 1000)}s`, FAKETIME_DONT_FAKE_MONOTONIC: "1" } : {};
  const servers: (Child | null)[] = new Array(schedule.servers).fill(null);
  const targets: string[] = [];
  const serverUrls: (string | null)[] = new Array(schedule.servers).fill(null);
  const refreshTargets = () => targets.splice(0, targets.length, ...serverUrls.filter((u): u is string => u !== null));
  async function startServer(s: number, skewMs: number): Promise<void> {
    const cmd = [bun, join(root, "chaos/server.ts"), options.store, ...target.serverArgs];
    const child = spawnChild(cmd, { verbose: options.verbose, env: { ...skewEnv(skewMs), ...creds.serverEnv } });
    servers[s] = child;
    const line = await child.waitLine((l) => l.startsWith("{"), 20_000);
    if (!line) throw new Error(`server ${s} did not start`);
    serverUrls[s] = (JSON.parse(line) as { url: string }).url;
    refreshTargets();
  }
  async function killServer(s: number): Promise<void> {
    serverUrls[s] = null;
    refreshTargets();
    await servers[s]?.kill();
    servers[s] = null;
  }

  const proxyRng = new Rng(schedule.seeds[0]);
  const proxies: ChaosProxy[] = [];
  const clients: (Child | null)[] = [];
  const incarnation: number[] = schedule.clients.map(() => 0);
  const restartTimers = new Set<ReturnType<typeof setTimeout>>();
  const config = (c: number, mode: "run" | "finish", proc: string): ClientConfig => {
    const spec = schedule.clients[c];
    return {
      mode,
      proc,
      file: spec.file,
      db: join(dir, `client-${spec.file}.db`),
      url: proxies[c].url,
      key,
      ...(creds.tokenFile ? { tokenFile: creds.tokenFile } : {}),
      history: join(dir, `h-${proc}.jsonl`),
      seed: mulberry32(schedule.seed ^ (c * 7919 + incarnation[c] * 104_729))() * 4294967296 >>> 0,
      keys: schedule.keys,
      pullLimit: spec.pullLimit,
      autoSync: mode === "finish" ? false : spec.autoSync,
      syncIntervalMs: spec.syncIntervalMs,
      leaseTtlMs: schedule.leaseTtlMs,
      pauseMs: spec.pauseMs,
      skewMs: FAKETIME ? 0 : spec.skewMs,
      mix: schedule.mix,
      live: mode === "run" && spec.live,
      strict: schedule.strict,
      bursts: schedule.bursts === true,
      ...(schedule.burstEarly ? { burstEarly: true } : {}),
    };
  };
  const startClient = (c: number) => {
    const proc = `c${c}.${incarnation[c]}`;
    const cfg = config(c, "run", proc);
    clients[c] = spawnChild([bun, join(root, "chaos/client.ts"), JSON.stringify(cfg)], { verbose: options.verbose, env: skewEnv(schedule.clients[c].skewMs) });
  };

  let violations: Violation[] = [];
  /** Acknowledged ops of killed incarnations. */
  let retired = 0;
  try {
    for (let s = 0; s < schedule.servers; s++) await startServer(s, schedule.serverSkewMs[s]);
    for (let c = 0; c < schedule.clients.length; c++) proxies.push(await startChaosProxy(targets, proxyRng));
    for (let c = 0; c < schedule.clients.length; c++) startClient(c);
    // Starting a process costs up to seconds on a loaded machine: the fault clock starts once all run.
    await Promise.all(clients.map((c) => c?.waitLine((l) => l === "ready", 30_000)));

    // The fault phase.
    const t0 = performance.now();
    for (const e of schedule.events) {
      const wait = e.at - (performance.now() - t0);
      if (wait > 0) await sleep(wait);
      if (e.a === "kill-client") {
        const child = clients[e.c];
        if (!child) continue;
        if (e.when !== "now") await child.waitLine((l) => l === `req ${e.when}`, 600);
        await child.kill();
        retired += child.oks();
        stats.kills++;
        clients[e.c] = null;
        const timer = setTimeout(() => {
          restartTimers.delete(timer);
          incarnation[e.c]++;
          startClient(e.c);
        }, e.restartAfter);
        restartTimers.add(timer);
      } else if (e.a === "kill-server") {
        if (!servers[e.s]) continue;
        await killServer(e.s);
        stats.serverKills++;
        const timer = setTimeout(() => {
          restartTimers.delete(timer);
          startServer(e.s, e.skewMs).catch(() => {});
        }, e.restartAfter);
        restartTimers.add(timer);
      } else if (e.a === "faults") {
        proxies[e.c].setFaults({ ...e.faults });
      } else if (e.a === "heal") {
        proxies[e.c].setFaults({ ...HEALTHY });
      } else if (e.a === "cut") {
        proxies[e.c].cutStreams();
      } else if (e.a === "gc") {
        await gc(admin, { olderThanMs: 0 }).catch(() => {});
        stats.gcs++;
      } else if (e.a === "revoke" || e.a === "downgrade" || e.a === "restore") {
        await creds.apply(e.a);
        stats.authFaults++;
      }
    }
    const rest = schedule.durationMs - (performance.now() - t0);
    if (rest > 0) await sleep(rest);
    // On a loaded machine processes crawl: keep the (last) faults on until enough ops were
    // acknowledged, so a seed tests as much on a busy CI box as on an idle one (bounded).
    const minOps = options.short ? 40 : 100;
    const stretchUntil = performance.now() + 4 * schedule.durationMs;
    const acked = () => retired + clients.reduce((n, c) => n + (c?.oks() ?? 0), 0);
    while (acked() < minOps && performance.now() < stretchUntil) await sleep(50);

    // Heal: stop the fault phase's processes, bring every server back, clean proxies.
    for (const t of restartTimers) clearTimeout(t);
    restartTimers.clear();
    await Promise.all(clients.map((c) => c?.kill()));
    for (let s = 0; s < schedule.servers; s++) if (!servers[s]) await startServer(s, 0);
    for (const p of proxies) p.setFaults({ ...HEALTHY });
    await creds.apply("restore");

    // Quiescence: one fresh process per file drains its outbox, then all pull once more.
    const files = [...new Set(schedule.clients.map((c) => c.file))];
    const finishers = files.map((f) => {
      const c = schedule.clients.findIndex((s) => s.file === f);
      incarnation[c]++;
      const proc = `c${c}.${incarnation[c]}f`;
      return spawnChild([bun, join(root, "chaos/client.ts"), JSON.stringify(config(c, "finish", proc))], { verbose: options.verbose });
    });
    const drained = await Promise.all(finishers.map((f) => f.waitLine((l) => l === "drained", 30_000)));
    drained.forEach((d, i) => {
      if (d === null) violations.push({ rule: "quiescence", message: `file ${files[i]} did not drain its outbox within 30 s of healing` });
    });
    const done = finishers.map((f) => f.waitLine((l) => l === "done", 30_000));
    for (const f of finishers) f.send("final\n");
    (await Promise.all(done)).forEach((d, i) => {
      if (d === null) violations.push({ rule: "quiescence", message: `file ${files[i]} did not finish its final sync within 30 s` });
    });
    await Promise.all(finishers.map((f) => f.kill()));

    // Final states.
    const server = await serverFinal(admin, tenant.id);
    const finals: ClientFinal[] = files.map((f) => clientFinal(join(dir, `client-${f}.db`), f));
    stats.conflicts = finals.reduce((n, c) => n + c.conflicts.filter((x) => x.kind === "conflict").length, 0);
    stats.rejected = finals.reduce((n, c) => n + c.conflicts.filter((x) => x.kind === "rejected").length, 0);
    const histories = readHistories<Line>(dir);
    for (const lines of histories.values()) {
      for (const l of lines) {
        if (l.t === "invoke" && l.kind !== "get" && l.kind !== "snap" && l.kind !== "sync") stats.ops++;
        if (l.t === "read") stats.reads++;
        if (l.t === "pullreset") stats.resets++;
        if (l.t === "event") stats.events++;
      }
    }
    violations = violations.concat(check(histories, server, finals, { atomic: options.atomic }));
  } finally {
    creds.stop();
    for (const t of restartTimers) clearTimeout(t);
    await Promise.all(clients.map((c) => c?.kill()));
    await Promise.all(servers.map((s) => s?.kill("SIGKILL")));
    for (const p of proxies) {
      stats.dropped += p.stats.dropped;
      stats.duplicated += p.stats.duplicated;
      stats.streams += p.stats.streams;
      await p.stop();
    }
    await admin.close().catch(() => {});
    await target.cleanup().catch(() => {});
    if (!options.keep && violations.length === 0) rmSync(dir, { recursive: true, force: true });
  }
  return { seed: options.seed, store: options.store, schedule, violations, ms: Math.round(performance.now() - started), dir, stats, skew: FAKETIME ? "faketime" : "injected" };
}

/**
 * The credentials file clients read their bearer token from (schedule.ts AuthPlan), and the
 * faults applied to it. Without a plan: no file, clients use the run's API key.
 */
interface AuthCredentials {
  /** The file clients read their token from (none without auth faults). */
  tokenFile: string | undefined;
  /** Environment for server processes (the JWT secret). */
  serverEnv: Record<string, string>;
  /** Applies a fault: `revoke`, `downgrade` or `restore`. */
  apply(fault: string): Promise<void>;
  stop(): void;
}

async function authCredentials(schedule: Schedule, admin: ServerStore, dir: string, first: { id: string; key: string }): Promise<AuthCredentials> {
  const plan = schedule.auth;
  if (!plan) return { tokenFile: undefined, serverEnv: {}, apply: async () => {}, stop: () => {} };
  const tokenFile = join(dir, "token");
  const write = (token: string) => {
    writeFileSync(`${tokenFile}.tmp`, token);
    renameSync(`${tokenFile}.tmp`, tokenFile); // readers never see half a token
  };
  if (plan.mode === "key") {
    let current = { id: first.id, scope: "write" as "read" | "write" };
    write(first.key);
    const issue = async (scope: "read" | "write") => {
      const next = await createKey(admin, "chaos", { scope, label: `chaos ${scope}` });
      write(next.key);
      await revokeKey(admin, current.id);
      current = { id: next.id, scope };
    };
    return {
      tokenFile,
      serverEnv: {},
      apply: async (a: string) => {
        if (a === "revoke") await issue(current.scope);
        else if (a === "downgrade" && current.scope === "write") await issue("read");
        else if (a === "restore" && current.scope === "read") await issue("write");
      },
      stop: () => {},
    };
  }
  const secret = `chaos-secret-${schedule.seed}-that-is-at-least-32-bytes-long`;
  let scope = "read write";
  const mint = async () => {
    const now = Date.now() / 1000;
    write(await new SignJWT({ sub: "chaos", scope }).setProtectedHeader({ alg: "HS256" }).setIssuedAt(Math.floor(now)).setExpirationTime(Math.ceil(now) + plan.lifetimeS).sign(new TextEncoder().encode(secret)));
  };
  await mint();
  const timer = setInterval(() => void mint().catch(() => {}), Math.round((plan.lifetimeS * 1000) / 3));
  return {
    tokenFile,
    serverEnv: { STOWAGE_CHAOS_JWT_SECRET: secret },
    apply: async (a: string) => {
      if (a === "downgrade") scope = "read";
      else if (a === "restore") scope = "read write";
      await mint();
    },
    stop: () => clearInterval(timer),
  };
}

/** Checks a kept SQLite run directory again (after a checker change); answers the violations. */
export async function recheck(dir: string, options: { atomic?: boolean } = {}): Promise<Violation[]> {
  const admin = await openServerStore({ adapter: createBunSqliteAdapter({ path: join(dir, "server.db") }) });
  try {
    const t = await admin.db.selectFrom("stowage_tenants").select("id").executeTakeFirstOrThrow();
    const server = await serverFinal(admin, t.id);
    const files = readdirSync(dir).map((n) => /^client-(\d+)\.db$/.exec(n)?.[1]).filter((x): x is string => x !== undefined).map(Number);
    return check(readHistories<Line>(dir), server, files.map((f) => clientFinal(join(dir, `client-${f}.db`), f)), options);
  } finally {
    await admin.close();
  }
}

async function serverFinal(store: ServerStore, tenantId: string): Promise<ServerFinal> {
  const t = await store.db.selectFrom("stowage_tenants").select("seq").where("id", "=", tenantId).executeTakeFirst();
  const rows = await store.db.selectFrom("stowage_docs").select(["collection", "id", "seq", "deleted", "body"]).where("tenant_id", "=", tenantId).execute();
  const docs: ServerFinal["docs"] = new Map();
  for (const r of rows) if (r.collection === "docs") docs.set(r.id, { seq: Number(r.seq), deleted: Number(r.deleted) === 1, body: r.body });
  return { seq: Number(t?.seq ?? 0), docs };
}

function clientFinal(path: string, file: number): ClientFinal {
  const db = new Database(path, { readonly: true });
  try {
    const docs: ClientFinal["docs"] = new Map();
    for (const r of db.query("select id, body, version from _stowage_docs where collection = 'docs'").all() as { id: string; body: string; version: number | null }[]) {
      docs.set(r.id, { body: r.body, version: r.version });
    }
    const outbox = (db.query("select count(*) as n from _stowage_outbox").get() as { n: number }).n;
    const conflicts = (db.query("select op_id, kind, id, op from _stowage_conflicts").all() as { op_id: number; kind: string; id: string; op: string }[]).map((r) => ({ opId: r.op_id, kind: r.kind, id: r.id, op: r.op }));
    return { file, docs, outbox, conflicts };
  } finally {
    db.close();
  }
}
