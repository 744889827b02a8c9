import { StowageError, describeValue } from "../../errors.ts";
import type { ServerStore } from "../store.ts";

/** What a request may do: `read` (pull, events, GET docs) or `write` (push and document writes, and reads). */
export type Scope = "read" | "write";

/** Who an `authenticate` hook (or a verified JWT) says the caller is. */
export interface Identity {
  /** Tenant NAME; a tenant seen for the first time is created. */
  tenant: string;
  /** The user or service inside the tenant (a JWT's `sub`), for rules and rate limiting. */
  subject?: string;
  /** `read` and/or `write`; absent means both. Other strings are ignored. */
  scopes?: readonly string[];
  /** When the credentials expire (a JWT's `exp`, in ms): open event streams end then. */
  expiresAt?: number;
  /** Claims sync rules may name (`auth.team`): a JWT's payload, or what a hook vouches for. */
  claims?: Readonly<Record<string, unknown>>;
}

/**
 * Authenticates a request for the server: an Identity, or null/undefined for "not
 * authenticated" (401). A throw is a server failure (500, reported to onError, never shown).
 */
export type AuthenticateHook = (request: Request) => Identity | null | undefined | Promise<Identity | null | undefined>;

/** Tenant names an identity may carry: printable ASCII, so `auth0|123` or an email works as a tenant. */
const IDENTITY_TENANT = /^[\x21-\x7e]{1,200}$/;

/** Scopes from an identity's list: unknown strings dropped, absent meaning everything. */
export function scopesOf(list: readonly string[] | undefined): Scope[] {
  if (list === undefined) return ["read", "write"];
  const out: Scope[] = [];
  if (list.includes("read")) out.push("read");
  if (list.includes("write")) out.push("write");
  return out;
}

/** Whether `scopes` allow `need`; `write` includes `read`. */
export function allows(scopes: readonly Scope[], need: Scope): boolean {
  return scopes.includes(need) || (need === "read" && scopes.includes("write"));
}

/**
 * Maps tenant names to ids, creating a tenant on first sight. Tenants are never deleted, so a
 * name once mapped stays valid and the map is a plain cache (cleared when it grows large).
 */
/**
 * How long a tenant name's id is trusted without reading it again. A console rename or delete
 * reaches every server process within this; meanwhile a push to a deleted tenant answers 503
 * (push.ts) and the client retries, then meets the tenant its token names, made anew.
 */
export const TENANT_TTL_MS = 2_000;

export class TenantResolver {
  readonly #store: ServerStore;
  /** Name → id, with when it was read: tenants can be renamed or deleted (console), so an entry lives TENANT_TTL_MS. */
  readonly #ids = new Map<string, { id: string; at: number }>();

  constructor(store: ServerStore) {
    this.#store = store;
  }

  async idOf(name: string, now = Date.now()): Promise<string> {
    if (typeof name !== "string" || !IDENTITY_TENANT.test(name)) {
      throw new StowageError("input", `the identity's tenant ${describeValue(name)} is not 1-200 printable ASCII characters`);
    }
    const cached = this.#ids.get(name);
    if (cached && now - cached.at < TENANT_TTL_MS && now >= cached.at) return cached.id;
    // By name only: a name that looks like another tenant's id must not reach that tenant.
    const find = () => this.#store.db.selectFrom("stowage_tenants").select("id").where("name", "=", name).executeTakeFirst();
    let row = await find();
    if (!row) {
      // Two first requests may race: the loser's insert does nothing and both read the winner's row.
      await this.#store.db
        .insertInto("stowage_tenants")
        .values({ id: `t_${randomHex(8)}`, name, seq: 0, purged_seq: 0, created_at: now })
        .onConflict((oc) => oc.column("name").doNothing())
        .execute();
      row = await find();
      if (!row) throw new Error(`tenant ${JSON.stringify(name)} could not be created`);
    }
    if (this.#ids.size >= 10_000) this.#ids.clear();
    this.#ids.set(name, { id: row.id, at: now });
    return row.id;
  }
}

function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}
