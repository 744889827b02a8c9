import { StowageError, describeValue } from "../errors.ts";
import { randomToken } from "../ids.ts";
import { keyCacheOf, type KeyRow } from "./auth/key-cache.ts";
import type { Scope } from "./auth/principal.ts";
import { compiledOnce } from "./compiled.ts";
import { opaqueParam } from "./dialect-sql.ts";
import { num } from "./tables.ts";
import type { ServerStore } from "./store.ts";

/** A tenant: one isolated data space; every key belongs to exactly one. */
export interface Tenant {
  /** Stable internal id (`t_…`). */
  id: string;
  /** Unique human name, as given to `stowage keys create --tenant NAME`. */
  name: string;
  /** Creation time, ms since the epoch. */
  createdAt: number;
}

/** A key's public description; the secret is shown once by `createKey` and never stored. */
export interface KeyInfo {
  /** Public key id (`k_` + 16 hex), the part of the key that is safe to print and log. */
  id: string;
  /** The tenant's id. */
  tenantId: string;
  /** The tenant's name. */
  tenantName: string;
  /** Free text given at creation. */
  label: string | null;
  /** Creation time, ms since the epoch. */
  createdAt: number;
  /** Revocation time, or null while the key works. */
  revokedAt: number | null;
  /** `write` (everything) or `read` (pull, events, GET docs only). */
  scope: Scope;
}

export const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// A key is `stw_<16 hex key id>_<43 base64url secret>`: the id finds the row, the hash proves it.
const KEY = /^stw_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Creates a tenant; its name must be new. */
export async function createTenant(store: ServerStore, name: string, now = Date.now()): Promise<Tenant> {
  if (typeof name !== "string" || !TENANT_NAME.test(name)) {
    throw new StowageError("input", `invalid tenant name ${describeValue(name)}: use 1-64 characters from A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  }
  if (await findTenant(store, name)) throw new StowageError("input", `tenant ${JSON.stringify(name)} already exists`);
  const tenant = { id: `t_${hex(8)}`, name, createdAt: now };
  await store.db.insertInto("stowage_tenants").values({ id: tenant.id, name, seq: 0, purged_seq: 0, created_at: now }).execute();
  return tenant;
}

/** Finds a tenant by name or id. */
export async function findTenant(store: ServerStore, nameOrId: string): Promise<Tenant | undefined> {
  const row = await store.db
    .selectFrom("stowage_tenants")
    .select(["id", "name", "created_at"])
    .where((eb) => eb.or([eb("name", "=", nameOrId), eb("id", "=", nameOrId)]))
    .executeTakeFirst();
  return row ? { id: row.id, name: row.name, createdAt: num(row.created_at) } : undefined;
}

/** Every tenant, by name. */
export async function listTenants(store: ServerStore): Promise<Tenant[]> {
  const rows = await store.db.selectFrom("stowage_tenants").select(["id", "name", "created_at"]).orderBy("name").execute();
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: num(r.created_at) }));
}

/**
 * Creates an API key for a tenant (by name or id; `createIfMissing` makes the tenant first).
 * Answers the key itself, which is not stored anywhere: show it once.
 */
export async function createKey(
  store: ServerStore,
  tenant: string,
  options: { label?: string; createIfMissing?: boolean; now?: number; scope?: Scope } = {},
): Promise<{ id: string; key: string; tenant: Tenant; scope: Scope }> {
  const now = options.now ?? Date.now();
  const scope = options.scope ?? "write";
  if (scope !== "read" && scope !== "write") throw new StowageError("input", `invalid key scope ${describeValue(scope)}: use read or write`);
  let found = await findTenant(store, tenant);
  if (!found && options.createIfMissing) found = await createTenant(store, tenant, now);
  if (!found) throw new StowageError("input", `no tenant named ${describeValue(tenant)}`);
  const id = hex(8);
  const key = `stw_${id}_${randomToken(32)}`;
  await store.db
    .insertInto("stowage_keys")
    .values({ id: `k_${id}`, tenant_id: found.id, hash: await sha256Hex(key), label: options.label ?? null, created_at: now, revoked_at: null, scope })
    .execute();
  return { id: `k_${id}`, key, tenant: found, scope };
}

/** Keys of one tenant (name or id), or of every tenant; never the secrets. */
export async function listKeys(store: ServerStore, tenant?: string): Promise<KeyInfo[]> {
  let query = store.db
    .selectFrom("stowage_keys as k")
    .innerJoin("stowage_tenants as t", "t.id", "k.tenant_id")
    .select(["k.id", "k.tenant_id", "t.name", "k.label", "k.created_at", "k.revoked_at", "k.scope"])
    .orderBy("t.name")
    .orderBy("k.created_at")
    .orderBy("k.id");
  if (tenant !== undefined) {
    const found = await findTenant(store, tenant);
    if (!found) throw new StowageError("input", `no tenant named ${describeValue(tenant)}`);
    query = query.where("k.tenant_id", "=", found.id);
  }
  return (await query.execute()).map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    tenantName: r.name,
    label: r.label,
    createdAt: num(r.created_at),
    revokedAt: r.revoked_at == null ? null : num(r.revoked_at),
    scope: r.scope === "read" ? "read" : "write",
  }));
}

/** Revokes a key by its id (`k_…`) or by the key itself; later requests with it answer 401. */
export async function revokeKey(store: ServerStore, idOrKey: string, now = Date.now()): Promise<KeyInfo> {
  const match = KEY.exec(idOrKey);
  const id = match ? `k_${match[1]}` : idOrKey;
  await store.db.updateTable("stowage_keys").set({ revoked_at: now }).where("id", "=", id).where("revoked_at", "is", null).execute();
  // This process refuses the key from now on; other instances when their LISTEN hears it.
  keyCacheOf(store)?.evict(id);
  const info = (await listKeys(store)).find((k) => k.id === id);
  if (!info) throw new StowageError("input", `no key with id ${describeValue(id)}`);
  return info;
}

/**
 * Which of `ids` are revoked or deleted, read from the store (never the key cache): how open
 * event streams learn that their key was revoked (events/sse.ts).
 */
export async function revokedKeys(store: ServerStore, ids: string[]): Promise<Set<string>> {
  const gone = new Set(ids);
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await store.db.selectFrom("stowage_keys").select(["id", "revoked_at"]).where("id", "in", ids.slice(i, i + 500)).execute();
    for (const r of rows) if (r.revoked_at == null) gone.delete(r.id);
  }
  return gone;
}

/** The authenticated side of a request. */
export interface Principal {
  /** The key's id (`k_…`), or `id:<tenant id>:<subject>` for a token or hook identity: the rate limiter's bucket. */
  keyId: string;
  /** The tenant every read and write of the request is confined to. */
  tenantId: string;
  /** The tenant's name. */
  tenant: string;
  /** The user or service inside the tenant (a JWT's `sub`, a hook's `subject`); absent for API keys. */
  subject?: string;
  /** What the request may do: a key's scope, a token's scope claim. */
  scopes: readonly Scope[];
  /** When the credentials expire (a JWT's `exp`, in ms); absent for API keys. */
  expiresAt?: number;
  /** Claims for sync rules (a JWT's payload); absent for API keys (their `sub` is the key id). */
  claims?: Readonly<Record<string, unknown>>;
}

/**
 * A key's row and its tenant's name, read on every request so that a revocation takes effect
 * at once; on PostgreSQL behind `stowage serve`, served from memory while LISTEN keeps it true
 * (auth/key-cache.ts).
 */
const KEY_ROW = compiledOnce(
  1,
  (db, dialect, id: string) =>
    db
      .selectFrom("stowage_keys as k")
      .innerJoin("stowage_tenants as t", "t.id", "k.tenant_id")
      .select(["k.id", "k.tenant_id", "k.hash", "k.revoked_at", "k.scope", "t.name"])
      .where("k.id", "=", opaqueParam(dialect, id, "text")),
  { reusablePlan: true },
);

/**
 * Checks an API key: the id part finds the row, then the SHA-256 of the whole key is compared
 * with the stored hash in constant time. Answers undefined for anything that is not a live key.
 */
export async function authenticate(store: ServerStore, key: string): Promise<Principal | undefined> {
  const match = KEY.exec(key);
  if (!match) return undefined;
  const id = `k_${match[1]}`;
  const cache = keyCacheOf(store);
  const now = Date.now();
  let row = cache?.get(id, now);
  const token = row ? undefined : cache?.token();
  if (!row) [row] = await KEY_ROW.all<KeyRow>(store.db, store.dialect, id);
  const hash = knownHashes.get(key) ?? (await sha256Hex(key));
  // Compare even when the row is missing, so a wrong id costs the same as a wrong secret.
  const same = constantTimeEqual(hash, row?.hash ?? "0".repeat(64));
  if (!row || !same || row.revoked_at != null) return undefined;
  rememberHash(key, hash);
  if (token !== undefined) cache?.put(id, row, token, now);
  return { keyId: row.id, tenantId: row.tenant_id, tenant: row.name, scopes: row.scope === "read" ? ["read"] : ["write"] };
}

/**
 * SHA-256 of keys that matched their row, so a client's every request does not hash its key
 * again: WebCrypto's digest is asynchronous and hops to a worker thread, which measured
 * 20-150 µs per request against ~25 µs for the key's row read. The hash is a pure function of
 * the key, so a remembered one is never stale; the row (revocation, scope) is still read on
 * every request. Only keys that matched are remembered (a stream of wrong keys cannot grow
 * it), at most KNOWN_HASHES, the oldest dropped first.
 */
const knownHashes = new Map<string, string>();
const KNOWN_HASHES = 1024;

function rememberHash(key: string, hash: string): void {
  if (knownHashes.has(key)) return;
  if (knownHashes.size >= KNOWN_HASHES) knownHashes.delete(knownHashes.keys().next().value as string);
  knownHashes.set(key, hash);
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let out = "";
  for (const b of digest) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Compares two strings without an early exit, so timing does not reveal the matching prefix. */
export function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i % (a.length || 1)) | 0) ^ (b.charCodeAt(i % (b.length || 1)) | 0);
  return diff === 0;
}

function hex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}
