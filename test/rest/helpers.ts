import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage, type StowageOptions } from "../../src/stowage.ts";
import type { RestConfig } from "../../src/sync/rest/config.ts";
import type { ReferenceServer } from "./reference-server.ts";
import { mulberry32 } from "../../chaos/prng.ts";

/** A hybrid Stowage over the REST API at `url` (no background loop: tests call sync/push). */
export function openRest(path: string, url: string, key: string | undefined, rest: Partial<RestConfig> = {}, options: StowageOptions = {}): Promise<Stowage> {
  return openStowage({
    adapter: createBunSqliteAdapter({ path }),
    rest: { baseUrl: url, overlapMs: 5000, ...rest },
    apiKey: key,
    env: {},
    autoSync: false,
    ...options,
  });
}

/** Syncs until a cycle succeeds (faults make some fail), at most `tries` times. */
export async function syncUntilClean(s: Stowage, tries = 50): Promise<void> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      await s.sync();
      if ((await s.status()).outbox.size === 0) return;
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`sync never completed cleanly: ${String((last as Error)?.message ?? last)}`);
}

/** Live server items keyed by the local id they carry (or srv-<id>), each with its count. */
export function serverLive(server: ReferenceServer): Map<string, { count: number; body: Record<string, unknown> }> {
  const out = new Map<string, { count: number; body: Record<string, unknown> }>();
  for (const r of server.rows()) {
    if (r.deleted_at !== null) continue;
    const key = typeof r.body.local_id === "string" ? r.body.local_id : `srv-${r.id}`;
    const prev = out.get(key);
    if (prev) prev.count++;
    else out.set(key, { count: 1, body: r.body });
  }
  return out;
}

/** Fields of a document without id / local_id, as canonical JSON, for comparing values. */
export function fields(v: Record<string, unknown> | undefined | null): string {
  if (!v) return "absent";
  const { id: _i, local_id: _l, ...rest } = v;
  return JSON.stringify(Object.fromEntries(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1))));
}

/** A seeded PRNG (mulberry32, shared with the fault tester): random schedules replay from their seed. */
export const seeded = mulberry32;
