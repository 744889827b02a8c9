/**
 * Renaming and deleting a tenant (the console's tenant page). Each runs in one transaction that
 * first locks the tenant's row, as every write does, so no push or direct write is half-way
 * through while the tenant changes name or goes.
 */
import { StowageError, describeValue } from "../errors.ts";
import { keyCacheOf } from "./auth/key-cache.ts";
import { lockTenant } from "./dialect-sql.ts";
import { findTenant, TENANT_NAME, type Tenant } from "./keys.ts";
import type { ServerStore } from "./store.ts";

/** Gives a tenant (by name or id) a new, unused name; its id, keys and data stay. */
export async function renameTenant(store: ServerStore, nameOrId: string, newName: string): Promise<Tenant> {
  if (typeof newName !== "string" || !TENANT_NAME.test(newName)) {
    throw new StowageError("input", `invalid tenant name ${describeValue(newName)}: use 1-64 characters from A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  }
  const tenant = await mustFind(store, nameOrId);
  if (tenant.name === newName) return tenant;
  const taken = await findTenant(store, newName);
  if (taken) throw new StowageError("input", `tenant ${JSON.stringify(newName)} already exists`);
  await store.db.transaction().execute(async (trx) => {
    await lockTenant(trx, store.dialect, tenant.id);
    await trx.updateTable("stowage_tenants").set({ name: newName }).where("id", "=", tenant.id).execute();
  });
  // Cached key rows carry the tenant's name (principal.tenantName): read them afresh.
  await evictKeys(store, tenant.id);
  return { ...tenant, name: newName };
}

/**
 * Deletes a tenant (by name or id) with everything it holds: documents and tombstones, client
 * marks and stored op results, and its keys, which answer 401 from then on. Answers what went.
 */
export async function deleteTenant(store: ServerStore, nameOrId: string): Promise<{ tenant: Tenant; docs: number; keys: number }> {
  const tenant = await mustFind(store, nameOrId);
  const keyIds = (await store.db.selectFrom("stowage_keys").select("id").where("tenant_id", "=", tenant.id).execute()).map((k) => k.id);
  const docs = await store.db.transaction().execute(async (trx) => {
    await lockTenant(trx, store.dialect, tenant.id);
    const gone = await trx.deleteFrom("stowage_docs").where("tenant_id", "=", tenant.id).where("deleted", "=", 0).executeTakeFirst();
    await trx.deleteFrom("stowage_docs").where("tenant_id", "=", tenant.id).execute();
    await trx.deleteFrom("stowage_op_results").where("tenant_id", "=", tenant.id).execute();
    await trx.deleteFrom("stowage_doc_moves").where("tenant_id", "=", tenant.id).execute();
    await trx.deleteFrom("stowage_clients").where("tenant_id", "=", tenant.id).execute();
    await trx.deleteFrom("stowage_keys").where("tenant_id", "=", tenant.id).execute();
    await trx.deleteFrom("stowage_tenants").where("id", "=", tenant.id).execute();
    return Number(gone.numDeletedRows);
  });
  // This process refuses the keys at once; other PostgreSQL instances when LISTEN hears the deletes.
  for (const id of keyIds) keyCacheOf(store)?.evict(id);
  return { tenant, docs, keys: keyIds.length };
}

async function mustFind(store: ServerStore, nameOrId: string): Promise<Tenant> {
  const tenant = await findTenant(store, nameOrId);
  if (!tenant) throw new StowageError("input", `no tenant named ${describeValue(nameOrId)}`);
  return tenant;
}

async function evictKeys(store: ServerStore, tenantId: string): Promise<void> {
  const cache = keyCacheOf(store);
  if (!cache) return;
  for (const k of await store.db.selectFrom("stowage_keys").select("id").where("tenant_id", "=", tenantId).execute()) cache.evict(k.id);
}
