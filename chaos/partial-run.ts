/**
 * One partial-sync seed (issue 34): `stowage serve --rules` in its own process (SIGKILLed and
 * restarted by the schedule) over a SQLite file, principals ann/bob/cal with JWTs naming one
 * shared tenant, one chaos proxy per client (lost answers, duplicated requests, delays,
 * partitions, cut streams), client processes that subscribe and unsubscribe while they sync
 * and write across filters. Then everything heals, each file's finisher drains and syncs once
 * more, and chaos/partial-check.ts judges the histories and the final states.
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import type { PartialClientConfig } from "./partial-client.ts";
import { readHistories } from "./histories.ts";
import { checkPartial, type PClientFinal, type PLine, type PServerFinal, type PViolation } from "./partial-check.ts";
import { makePartialSchedule, PARTIAL_RULES, SUB_POOL, type PartialSchedule } from "./partial-schedule.ts";
import { mulberry32, Rng } from "./prng.ts";
import { spawnChild, type Child } from "./procs.ts";
import { HEALTHY, startChaosProxy, type ChaosProxy } from "./proxy.ts";

export interface PartialRunResult {
  seed: number;
  schedule: PartialSchedule;
  violations: PViolation[];
  ms: number;
  dir: string;
  stats: { ops: number; subChanges: number; snapshots: number; pulls: number; events: number; leaves: number; refused: number; kills: number; serverKills: number; dropped: number; duplicated: number };
}

const ROOT = join(import.meta.dir, "..");
const TENANT = "chaos";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runPartialSeed(options: { seed: number; short?: boolean; verbose?: boolean; keep?: boolean }): Promise<PartialRunResult> {
  const started = performance.now();
  const schedule = makePartialSchedule(options.seed, { short: options.short });
  const dir = mkdtempSync(join(tmpdir(), `stowage-chaos-partial-${options.seed}-`));
  const stats: PartialRunResult["stats"] = { ops: 0, subChanges: 0, snapshots: 0, pulls: 0, events: 0, leaves: 0, refused: 0, kills: 0, serverKills: 0, dropped: 0, duplicated: 0 };
  const serverDb = join(dir, "server.db");
  const rulesFile = join(dir, "rules.txt");
  writeFileSync(rulesFile, PARTIAL_RULES);
  const secret = `chaos-partial-${options.seed}-a-secret-of-at-least-32-bytes`;
  const tokens = new Map<string, string>();
  for (const c of schedule.clients) {
    if (tokens.has(c.principal)) continue;
    const now = Math.floor(Date.now() / 1000);
    tokens.set(c.principal, await new SignJWT({ sub: c.principal, tenant: TENANT }).setProtectedHeader({ alg: "HS256" }).setIssuedAt(now).setExpirationTime(now + 3600).sign(new TextEncoder().encode(secret)));
  }

  let server: Child | null = null;
  const targets: string[] = [];
  async function startServer(): Promise<void> {
    const child = spawnChild([process.execPath, join(ROOT, "src/cli/bin.ts"), "serve", "--port", "0", "--json", "--data", serverDb, "--rules", rulesFile, "--rate-limit", "off", "--log-level", "off", "--jwt-tenant-claim", "tenant", "--tombstone-retention", "off"], {
      verbose: options.verbose,
      env: { STOWAGE_JWT_SECRET: secret },
    });
    server = child;
    const line = await child.waitLine((l) => l.startsWith("{"), 30_000);
    if (!line) throw new Error("stowage serve --rules did not start");
    targets.splice(0, targets.length, (JSON.parse(line) as { url: string }).url);
  }
  async function killServer(): Promise<void> {
    targets.splice(0);
    await server?.kill();
    server = null;
  }

  const proxyRng = new Rng(options.seed ^ 0x9e3779b9);
  const proxies: ChaosProxy[] = [];
  const clients: (Child | null)[] = [];
  const incarnation = schedule.clients.map(() => 0);
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const config = (c: number, mode: "run" | "finish", proc: string): PartialClientConfig => {
    const spec = schedule.clients[c];
    return {
      mode,
      proc,
      file: c,
      db: join(dir, `client-${c}.db`),
      url: proxies[c].url,
      token: tokens.get(spec.principal)!,
      principal: spec.principal,
      history: join(dir, `h-${proc}.jsonl`),
      seed: (mulberry32(options.seed ^ (c * 7919 + incarnation[c] * 104_729))() * 4294967296) >>> 0,
      keys: schedule.keys,
      // The first incarnation opens with its subscriptions; later ones find them persisted.
      subs: incarnation[c] === 0 && mode === "run" ? spec.subs.map((i) => SUB_POOL[i]) : null,
      pullLimit: spec.pullLimit,
      autoSync: mode === "finish" ? false : spec.autoSync,
      syncIntervalMs: spec.syncIntervalMs,
      live: mode === "run" && spec.live,
      pauseMs: spec.pauseMs,
    };
  };
  const startClient = (c: number) => {
    const proc = `c${c}.${incarnation[c]}`;
    clients[c] = spawnChild([process.execPath, join(ROOT, "chaos/partial-client.ts"), JSON.stringify(config(c, "run", proc))], { verbose: options.verbose });
  };

  let violations: PViolation[] = [];
  try {
    await startServer();
    for (let c = 0; c < schedule.clients.length; c++) proxies.push(await startChaosProxy(targets, proxyRng));
    for (let c = 0; c < schedule.clients.length; c++) startClient(c);
    await Promise.all(clients.map((c) => c?.waitLine((l) => l === "ready", 30_000)));

    const t0 = performance.now();
    for (const e of schedule.events) {
      const wait = e.at - (performance.now() - t0);
      if (wait > 0) await sleep(wait);
      if (e.a === "kill-client") {
        const child = clients[e.c];
        if (!child) continue;
        await child.kill();
        stats.kills++;
        clients[e.c] = null;
        const timer = setTimeout(() => {
          timers.delete(timer);
          incarnation[e.c]++;
          startClient(e.c);
        }, e.restartAfter);
        timers.add(timer);
      } else if (e.a === "kill-server") {
        if (!server) continue;
        await killServer();
        stats.serverKills++;
        const timer = setTimeout(() => {
          timers.delete(timer);
          startServer().catch(() => {});
        }, e.restartAfter);
        timers.add(timer);
      } else if (e.a === "faults") proxies[e.c].setFaults({ ...e.faults });
      else if (e.a === "heal") proxies[e.c].setFaults({ ...HEALTHY });
      else if (e.a === "cut") proxies[e.c].cutStreams();
    }
    const rest = schedule.durationMs - (performance.now() - t0);
    if (rest > 0) await sleep(rest);

    // Heal, then one finisher per file drains its outbox and syncs once more.
    for (const t of timers) clearTimeout(t);
    timers.clear();
    await Promise.all(clients.map((c) => c?.kill()));
    // A restart timer may have fired while we waited for the kills.
    await Promise.all(clients.map((c) => c?.kill()));
    if (!server) await startServer();
    for (const p of proxies) p.setFaults({ ...HEALTHY });
    const finishers = schedule.clients.map((_, c) => {
      incarnation[c]++;
      const proc = `c${c}.${incarnation[c]}f`;
      return spawnChild([process.execPath, join(ROOT, "chaos/partial-client.ts"), JSON.stringify(config(c, "finish", proc))], { verbose: options.verbose });
    });
    (await Promise.all(finishers.map((f) => f.waitLine((l) => l === "drained", 30_000)))).forEach((d, c) => {
      if (d === null) violations.push({ rule: "quiescence", message: `client file ${c} did not drain its outbox within 30 s of healing` });
    });
    const done = finishers.map((f) => f.waitLine((l) => l === "done", 30_000));
    for (const f of finishers) f.send("final\n");
    (await Promise.all(done)).forEach((d, c) => {
      if (d === null) violations.push({ rule: "quiescence", message: `client file ${c} did not finish its final sync within 30 s` });
    });
    await Promise.all(finishers.map((f) => f.kill()));

    const histories = readHistories<PLine>(dir);
    const finals = schedule.clients.map((spec, c) => clientFinal(join(dir, `client-${c}.db`), c, spec.principal));
    const serverState = serverFinal(serverDb);
    for (const lines of histories.values()) {
      for (const l of lines) {
        if (l.t === "invoke") l.kind === "subscribe" || l.kind === "unsubscribe" ? stats.subChanges++ : stats.ops++;
        if (l.t === "read") stats.snapshots++;
        if (l.t === "pull") {
          if (l.via === "event") stats.events++;
          else stats.pulls++;
          for (const ch of l.changes as unknown[][]) if (ch[5] === true) stats.leaves++;
        }
      }
    }
    stats.refused = finals.reduce((n, c) => n + c.conflicts.length, 0);
    violations = violations.concat(checkPartial(histories, serverState, finals));
  } finally {
    for (const t of timers) clearTimeout(t);
    await Promise.all(clients.map((c) => c?.kill()));
    await (server as Child | null)?.kill();
    for (const p of proxies) {
      stats.dropped += p.stats.dropped;
      stats.duplicated += p.stats.duplicated;
      await p.stop();
    }
    if (!options.keep && violations.length === 0) rmSync(dir, { recursive: true, force: true });
  }
  return { seed: options.seed, schedule, violations, ms: Math.round(performance.now() - started), dir, stats };
}

/** Checks a kept run directory again (after a checker change). */
export function recheckPartial(dir: string, principals: string[]): PViolation[] {
  const files = readdirSync(dir).map((n) => /^client-(\d+)\.db$/.exec(n)?.[1]).filter((x): x is string => x !== undefined).map(Number).sort((a, b) => a - b);
  return checkPartial(readHistories<PLine>(dir), serverFinal(join(dir, "server.db")), files.map((f) => clientFinal(join(dir, `client-${f}.db`), f, principals[f])));
}

function serverFinal(path: string): PServerFinal {
  const db = new Database(path, { readonly: true });
  try {
    const t = db.query("select id, seq from stowage_tenants where name = ?").get(TENANT) as { id: string; seq: number } | null;
    const docs: PServerFinal["docs"] = new Map();
    if (t) {
      for (const r of db.query("select id, seq, deleted, body from stowage_docs where tenant_id = ? and collection = 'docs'").all(t.id) as { id: string; seq: number; deleted: number; body: string | null }[]) {
        docs.set(r.id, { seq: Number(r.seq), deleted: Number(r.deleted) === 1, body: r.body });
      }
    }
    return { seq: Number(t?.seq ?? 0), docs };
  } finally {
    db.close();
  }
}

function clientFinal(path: string, file: number, principal: string): PClientFinal {
  const db = new Database(path, { readonly: true });
  try {
    const docs: PClientFinal["docs"] = new Map();
    for (const r of db.query("select id, body, version from _stowage_docs where collection = 'docs'").all() as { id: string; body: string; version: number | null }[]) docs.set(r.id, { body: r.body, version: r.version });
    const outbox = (db.query("select count(*) as n from _stowage_outbox").get() as { n: number }).n;
    const conflicts = (db.query("select op_id, kind from _stowage_conflicts").all() as { op_id: number; kind: string }[]).map((r) => ({ opId: r.op_id, kind: r.kind }));
    return { file, principal, docs, outbox, conflicts };
  } finally {
    db.close();
  }
}
