/**
 * Partial-sync seeds (issue 34): principals with different claims share one tenant under a
 * rules file, clients hold subscriptions they change mid-sync, documents move across filters
 * (indexed fields change) and from shared to private. Everything is drawn from the seed.
 */
import { Rng } from "./prng.ts";
import type { ProxyFaults } from "./proxy.ts";

/** The rules every partial seed's server runs with (`stowage serve --rules`). */
export const PARTIAL_RULES = `# chaos/partial-schedule.ts: owner/shared
claims: sub
index docs: tag, n
docs read: owner == auth.sub or shared == true
docs write: owner == auth.sub or shared == true
`;

/** What `PARTIAL_RULES` lets principal `sub` read, judged on a value's own fields. */
export function readable(sub: string, value: { owner?: unknown; shared?: unknown } | null | undefined): boolean {
  return !!value && (value.owner === sub || value.shared === true);
}

export const PRINCIPALS = ["ann", "bob", "cal"] as const;
export const TAGS = ["a", "b", "c"] as const;

export interface Sub {
  collection: string;
  where?: Record<string, unknown>;
}

/** The subscriptions a client draws from (every field in a `where` is indexed by the rules). */
export const SUB_POOL: Sub[] = [
  { collection: "docs" },
  { collection: "docs", where: { tag: "a" } },
  { collection: "docs", where: { tag: "b" } },
  { collection: "docs", where: { tag: { in: ["b", "c"] } } },
  { collection: "docs", where: { n: { gte: 5 } } },
  { collection: "docs", where: { tag: "c", n: { lt: 5 } } },
  { collection: "docs", where: { owner: "ann" } },
  { collection: "docs", where: { shared: true } },
  { collection: "docs", where: { tag: { ne: "a" } } },
];

export interface PartialClientSpec {
  /** SQLite file index (one process per file at a time). */
  file: number;
  principal: string;
  /** Indexes into SUB_POOL of the subscriptions the first incarnation opens with. */
  subs: number[];
  pullLimit: number;
  autoSync: boolean;
  syncIntervalMs: number;
  live: boolean;
  pauseMs: [number, number];
}

export type PartialEvent =
  | { at: number; a: "kill-client"; c: number; restartAfter: number }
  | { at: number; a: "kill-server"; restartAfter: number }
  | { at: number; a: "faults"; c: number; faults: ProxyFaults }
  | { at: number; a: "heal"; c: number }
  | { at: number; a: "cut"; c: number };

export interface PartialSchedule {
  seed: number;
  keys: number;
  clients: PartialClientSpec[];
  durationMs: number;
  events: PartialEvent[];
}

export function makePartialSchedule(seed: number, options: { short?: boolean } = {}): PartialSchedule {
  const rng = new Rng(seed ^ 0x34a11ce);
  const n = rng.int(2, 4);
  const clients: PartialClientSpec[] = [];
  for (let i = 0; i < n; i++) {
    // The first two clients are always two different principals: every seed has someone to hide from.
    const principal = i < 2 ? PRINCIPALS[i] : rng.pick(PRINCIPALS);
    const subs = rng.chance(0.25) ? [0] : rng.sample(SUB_POOL.map((_, j) => j).slice(1), rng.int(1, 2));
    const autoSync = rng.chance(0.75);
    clients.push({ file: i, principal, subs, pullLimit: rng.int(1, 6), autoSync, syncIntervalMs: rng.int(30, 200), live: autoSync && rng.chance(0.8), pauseMs: [rng.int(0, 10), rng.int(15, 50)] });
  }
  const durationMs = options.short ? rng.int(1200, 2000) : rng.int(2000, 4000);
  const events: PartialEvent[] = [];
  for (let t = rng.int(100, 300); t < durationMs; t += rng.int(80, 350)) {
    const r = rng.next();
    const c = rng.int(0, n - 1);
    if (r < 0.15) events.push({ at: t, a: "kill-client", c, restartAfter: rng.int(30, 300) });
    else if (r < 0.22) events.push({ at: t, a: "kill-server", restartAfter: rng.int(50, 400) });
    else if (r < 0.6) {
      events.push({
        at: t,
        a: "faults",
        c,
        faults: {
          dropRate: rng.chance(0.5) ? rng.pick([0.1, 0.3]) : 0,
          delayMs: rng.chance(0.5) ? [0, rng.int(5, 80)] : [0, 0],
          partition: rng.chance(0.2) ? rng.pick(["refuse", "blackhole"] as const) : null,
          dupRate: rng.chance(0.4) ? rng.pick([0.2, 0.5]) : 0,
        },
      });
    } else if (r < 0.85) events.push({ at: t, a: "heal", c });
    else events.push({ at: t, a: "cut", c });
  }
  return { seed, keys: rng.int(5, 10), clients, durationMs, events };
}

export function describePartialSchedule(s: PartialSchedule): string {
  const lines = [`partial seed ${s.seed}: ${s.clients.length} clients, ${s.keys} keys, ${s.durationMs} ms of faults`];
  for (const c of s.clients) {
    lines.push(`  client ${c.file}: ${c.principal}, subs ${c.subs.map((i) => JSON.stringify(SUB_POOL[i].where ?? "*")).join(" + ")}, limit ${c.pullLimit}, ${c.autoSync ? `auto ${c.syncIntervalMs} ms${c.live ? " + live" : ""}` : "manual"}`);
  }
  for (const e of s.events) lines.push(`  ${String(e.at).padStart(5)} ms ${e.a}${"c" in e ? ` c${e.c}` : ""}${e.a === "faults" ? ` ${JSON.stringify(e.faults)}` : ""}`);
  return lines.join("\n");
}

/** Does `value` match a `list`-style where (ops eq ne gt gte lt lte in)? */
export function matchesWhere(value: Record<string, unknown>, where: Record<string, unknown> | undefined): boolean {
  if (!where) return true;
  for (const [field, cond] of Object.entries(where)) {
    const v = field.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), value);
    const ops = cond !== null && typeof cond === "object" && !Array.isArray(cond) ? (cond as Record<string, unknown>) : { eq: cond };
    for (const [op, x] of Object.entries(ops)) {
      const ok =
        op === "eq" ? v === x
        : op === "ne" ? v !== x
        : op === "in" ? Array.isArray(x) && x.includes(v)
        : v === undefined || v === null ? false
        : op === "gt" ? (v as number) > (x as number)
        : op === "gte" ? (v as number) >= (x as number)
        : op === "lt" ? (v as number) < (x as number)
        : op === "lte" ? (v as number) <= (x as number)
        : false;
      if (!ok) return false;
    }
  }
  return true;
}

/** In any of `subs` (an empty list is the whole tenant, as with no subscriptions option). */
export function inSubs(subs: Sub[], collection: string, value: Record<string, unknown>): boolean {
  if (subs.length === 0) return true;
  return subs.some((s) => s.collection === collection && matchesWhere(value, s.where));
}
