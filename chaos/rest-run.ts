/**
 * One REST seed, in one process: a reference API of one of the four shapes
 * (test/rest/shapes/: seed, envelope POST-upsert, hard-deleting paged CRUD, PocketBase), with
 * or without Idempotency-Key, behind one chaos proxy per client (answers dropped after commit,
 * requests duplicated, delays, partitions). Two or three clients write their own documents,
 * sync (sometimes concurrently), restart, and another program writes on the API directly;
 * then everything heals, every client syncs to quiescence, and rest-check.ts judges.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage } from "../src/stowage.ts";
import type { RestConfig } from "../src/sync/rest/config.ts";
import { SHAPES, type ShapeServer } from "../test/rest/shapes/index.ts";
import { Rng } from "./prng.ts";
import { HEALTHY, startChaosProxy, type ChaosProxy, type ProxyFaults } from "./proxy.ts";
import { canon, checkRestFinal, type Fields, type Violation } from "./rest-check.ts";

export const REST_SHAPES = ["seed", "envelope", "crud", "pocketbase"] as const;

export interface RestSchedule {
  seed: number;
  shape: (typeof REST_SHAPES)[number];
  idempotency: boolean;
  clients: number;
  steps: number;
  /** The cursor overlap the clients use. */
  overlapMs: number;
}

export interface RestRunResult {
  schedule: RestSchedule;
  violations: Violation[];
  ms: number;
  stats: { ops: number; syncs: number; failedSyncs: number; restarts: number; direct: number; dropped: number; duplicated: number; refused: number; repaired: number };
}

export function makeRestSchedule(seed: number): RestSchedule {
  const rng = new Rng(seed * 7919 + 17);
  // overlapMs 0: the reference APIs stamp changes in commit order, so no overlap is needed, and
  // none hides a client that would only converge when the overlap brings an item again.
  return { seed, shape: REST_SHAPES[seed % 4], idempotency: rng.chance(0.5), clients: rng.int(2, 3), steps: rng.int(40, 80), overlapMs: rng.pick([0, 5000]) };
}

const ROOT = join(import.meta.dir, "..");

/**
 * Planted mapping mistakes, to show the checker catches what they break: `no-local-id` (no
 * local id carried: duplicate repair and other clients' ids off), `put-as-create`
 * (updates POST a new item: the silent duplicate of issue 30).
 */
export const REST_PLANTED = ["no-local-id", "put-as-create"] as const;

function configFor(shape: string, baseUrl: string, overlapMs: number, planted?: string): RestConfig {
  const c = JSON.parse(readFileSync(join(ROOT, "docs", "examples", "rest", `${shape}.json`), "utf8"));
  // Small pages, so paging runs in every seed; frequent full listings, so hard deletes are found.
  if (c.feed?.page) c.feed.page.size = 4;
  if (c.fullListEvery) c.fullListEvery = 3;
  if (planted === "no-local-id") Object.assign(c, { localIdField: null, item: { ...c.item, localId: null } });
  if (planted === "put-as-create") c.update = { method: "POST", path: "{resource}", body: c.create?.body ?? "$doc" };
  return { ...c, baseUrl, timeoutMs: 3000, overlapMs };
}

export async function runRestSeed(seed: number, planted?: string): Promise<RestRunResult> {
  const started = performance.now();
  const schedule = makeRestSchedule(seed);
  const rng = new Rng(seed);
  const dir = mkdtempSync(join(tmpdir(), `stowage-rest-chaos-${seed}-`));
  const stats = { ops: 0, syncs: 0, failedSyncs: 0, restarts: 0, direct: 0, dropped: 0, duplicated: 0, refused: 0, repaired: 0 };
  const server: ShapeServer = SHAPES[schedule.shape]({ path: join(dir, "api.db"), idempotency: schedule.idempotency });
  const proxies: ChaosProxy[] = [];
  const handles: Stowage[] = [];
  const own: Map<string, Fields | null>[] = [];
  const ryw: Violation[] = [];
  const open = (i: number) =>
    openStowage({ adapter: createBunSqliteAdapter({ path: join(dir, `c${i}.db`) }), rest: configFor(schedule.shape, proxies[i].url, schedule.overlapMs, planted), apiKey: server.key ?? undefined, env: {}, autoSync: false, onTrace: process.env.STOWAGE_REST_CHAOS_TRACE ? (l) => console.log(`  trace c${i}: ${l}`) : undefined });
  try {
    for (let i = 0; i < schedule.clients; i++) {
      proxies.push(await startChaosProxy([server.url], new Rng(rng.fork())));
      handles.push(await open(i));
      own.push(new Map());
    }
    const directIds: string[] = [];
    let next = 0;
    /** Own documents must show the last write at every read (ryw, pending kept). */
    const checkOwn = async (i: number, when: string) => {
      for (const [id, value] of own[i]) {
        const got = ((await handles[i].collection("notes").get(id)) as Fields | undefined) ?? null;
        if (canon(got) !== canon(value)) ryw.push({ rule: "ryw", message: `c${i}/${id} ${when}: read ${JSON.stringify(got)}, last write ${JSON.stringify(value)}` });
      }
    };
    const sync = async (i: number, check = true) => {
      stats.syncs++;
      try {
        await handles[i].sync();
      } catch {
        stats.failedSyncs++;
      }
      if (check) await checkOwn(i, "after a sync");
    };
    /** A write by the owner: create, replace, patch or delete one of its documents. */
    const write = async (i: number, step: number) => {
      const notes = handles[i].collection("notes");
      const mine = [...own[i]].filter(([, v]) => v !== null).map(([id]) => id);
      const kind = mine.length === 0 || rng.chance(0.35) ? "create" : rng.pick(["put", "patch", "delete"] as const);
      stats.ops++;
      if (kind === "create") {
        const id = `c${i}-${next++}`;
        const value = { id, text: `v${step}`, n: step };
        await notes.put(value);
        own[i].set(id, value);
      } else {
        const id = rng.pick(mine);
        if (kind === "put") {
          // Same fields as a create: on an API that updates by PATCH (PocketBase) a put cannot remove a field (README).
          const value = { id, text: `put ${step}`, n: -step };
          await notes.put(value);
          own[i].set(id, value);
        } else if (kind === "patch") {
          await notes.patch(id, { n: step });
          own[i].set(id, { ...own[i].get(id)!, n: step });
        } else {
          await notes.delete(id);
          own[i].set(id, null);
        }
      }
      if (process.env.STOWAGE_REST_CHAOS_TRACE) console.log(`  c${i} ${kind} ${JSON.stringify([...own[i]].at(-1))}`);
      return kind;
    };
    for (let step = 0; step < schedule.steps; step++) {
      const i = rng.int(0, schedule.clients - 1);
      const r = rng.next();
      if (r < 0.45) {
        const kind = await write(i, step);
        await checkOwn(i, `after ${kind}`);
      } else if (r < 0.75) {
        // Syncs, sometimes several clients at once, sometimes with a write landing mid-sync.
        const together = rng.next();
        if (together < 0.3) await Promise.all(handles.map((_, j) => sync(j)));
        else if (together < 0.5) {
          await Promise.all([sync(i, false), write(i, step)]);
          await checkOwn(i, "after a write during a sync");
        } else await sync(i);
      } else if (r < 0.88) {
        // Faults change for one client's network.
        const f: ProxyFaults = {
          dropRate: rng.pick([0, 0, 0.1, 0.2, 0.4]),
          delayMs: rng.chance(0.3) ? [0, 20] : [0, 0],
          partition: rng.chance(0.15) ? "refuse" : null,
          dupRate: rng.pick([0, 0, 0.1]),
        };
        proxies[i].setFaults(f);
      } else if (r < 0.94) {
        // Another program writes on the API.
        stats.direct++;
        const live = directIds.filter((s) => server.live().some((x) => x.serverId === s));
        if (live.length === 0 || rng.chance(0.4)) directIds.push(server.direct.create({ text: `direct ${step}` }));
        else if (rng.chance(0.5)) server.direct.update(rng.pick(live), { text: `direct edit ${step}` });
        else server.direct.remove(rng.pick(live));
      } else {
        // A restart: the handle closes and a new one opens on the same file.
        stats.restarts++;
        await handles[i].close();
        handles[i] = await open(i);
        await checkOwn(i, "after a restart");
      }
    }
    // Heal, then sync every client to quiescence (and through enough full listings).
    for (const p of proxies) p.setFaults(HEALTHY);
    for (let round = 0; round < 8; round++) for (let i = 0; i < handles.length; i++) await sync(i);
    const clients = [];
    for (let i = 0; i < handles.length; i++) {
      const docs = new Map<string, Fields>();
      for (const d of (await handles[i].collection("notes").list({ limit: 10_000 })).items) docs.set((d as Fields).id as string, d as Fields);
      const issues = (await handles[i].issues()).map((x) => ({ kind: x.kind, id: x.id, message: x.message }));
      stats.repaired += issues.filter((x) => x.kind === "repaired").length;
      clients.push({ name: `c${i}`, own: own[i], docs, outbox: (await handles[i].status()).outbox.size, issues });
    }
    for (const p of proxies) {
      stats.dropped += p.stats.dropped;
      stats.duplicated += p.stats.duplicated;
      stats.refused += p.stats.refused;
    }
    const violations = checkRestFinal({ live: server.live(), clients }, ryw);
    return { schedule, violations, ms: Math.round(performance.now() - started), stats };
  } finally {
    for (const h of handles) await h.close().catch(() => {});
    for (const p of proxies) await p.stop().catch(() => {});
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
