import { createHash } from "node:crypto";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { all } from "../../src/store/sql.ts";
import { openStowage, type Stowage, type StowageOptions } from "../../src/stowage.ts";

/** A hybrid client over its own SQLite file, syncing only when the test says so. */
export function openClient(path: string, url: string, apiKey: string, extra: Partial<StowageOptions> = {}): Promise<Stowage> {
  return openStowage({ adapter: createBunSqliteAdapter({ path }), url, apiKey, env: {}, autoSync: false, ...extra });
}

/**
 * openClient whose requests are listed, in order, as `METHOD /path?query` (the clientId
 * parameter left out). `rewrite` may change the URL sent; `after` runs once each answer is in,
 * before the client sees it.
 */
export async function loggedClient(
  path: string,
  url: string,
  apiKey: string,
  options: { extra?: Partial<StowageOptions>; rewrite?: (url: string) => string; after?: (url: string) => Promise<void> } = {},
): Promise<{ db: Stowage; requests: string[] }> {
  const requests: string[] = [];
  const fetchFn = async (input: string | URL | Request, init?: RequestInit) => {
    const sent = options.rewrite ? options.rewrite(String(input)) : String(input);
    const u = new URL(sent);
    requests.push(`${init?.method ?? "GET"} ${u.pathname}${u.search.replace(/&?clientId=[^&]*/, "")}`);
    const res = await globalThis.fetch(sent, init);
    await options.after?.(sent);
    return res;
  };
  const db = await openClient(path, url, apiKey, { fetch: fetchFn as typeof fetch, ...options.extra });
  return { db, requests };
}

/** Hash of every document a client holds (collection, id, body with sorted keys). */
export async function stateHash(client: Stowage): Promise<string> {
  const rows = await all<{ collection: string; id: string; body: string }>(
    client.store!.db,
    "select collection, id, body from _stowage_docs order by collection, id",
  );
  const h = createHash("sha256");
  for (const r of rows) h.update(`${r.collection}\u0000${r.id}\u0000${canonical(JSON.parse(r.body))}\n`);
  return `${rows.length}:${h.digest("hex").slice(0, 16)}`;
}

/** Hash of what the server holds for the same tenant, read through the direct API. */
export async function serverHash(url: string, key: string, collections: string[]): Promise<string> {
  const docs: { c: string; id: string; body: string }[] = [];
  for (const c of collections) {
    let cursor: string | undefined;
    do {
      const res = await fetch(`${url}/v1/docs/${c}?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { headers: { authorization: `Bearer ${key}` } });
      const page = (await res.json()) as { items: Record<string, unknown>[]; next?: string };
      for (const item of page.items) docs.push({ c, id: String(item.id), body: canonical(item) });
      cursor = page.next;
    } while (cursor);
  }
  docs.sort((a, b) => (a.c === b.c ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.c < b.c ? -1 : 1));
  const h = createHash("sha256");
  for (const d of docs) h.update(`${d.c}\u0000${d.id}\u0000${d.body}\n`);
  return `${docs.length}:${h.digest("hex").slice(0, 16)}`;
}

export function canonical(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`;
}

/** Deterministic pseudo-random numbers, so a failing run can be replayed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
