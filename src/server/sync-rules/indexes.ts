/**
 * The indexes a store needs once sync rules are installed, made at startup (they follow the
 * rules file, so they are not migrations): a collection's changes in seq order, and one
 * expression index per indexed field, `(tenant_id, collection, <field>, seq)`, so a view's
 * pull reads the changes of `owner = 'ann'` in seq order without touching anyone else's
 * (pull-view.ts; the plans are checked in test/sync-rules/plans.test.ts). `if not exists`
 * makes a restart, or a second instance, a no-op; PostgreSQL builds them without holding up
 * writers (ServerDialect.createIndexLive), and views work meanwhile, only slower.
 */
import { sql, type Kysely } from "kysely";
import type { ServerDialect } from "../sql/dialect.ts";
import type { ServerTables } from "../tables.ts";
import type { SyncRules } from "./check.ts";

/** The index name of a field: readable when short, else hashed to stay within PostgreSQL's 63 characters. */
export function fieldIndexName(path: string): string {
  const plain = `stowage_docs_f_${path.replace(/\./g, "__")}`;
  if (plain.length <= 60) return plain;
  let h = 2166136261;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 16777619);
  return `stowage_docs_f_${path.slice(0, 30).replace(/\./g, "__")}_${(h >>> 0).toString(36)}`;
}

/** Every field any rule names or indexes, across collections (one index serves all of them). */
export function indexedPaths(rules: SyncRules): string[] {
  const out = new Set<string>();
  for (const c of rules.collections.values()) for (const f of c.indexed) out.add(f);
  return [...out].sort();
}

/** Creates the rules' indexes when missing. */
export async function ensureRuleIndexes(db: Kysely<ServerTables>, dialect: ServerDialect, rules: SyncRules): Promise<void> {
  const create = dialect.createIndexLive;
  const statements = [`${create} if not exists stowage_docs_collection_seq on stowage_docs (tenant_id, collection, seq)`];
  for (const path of indexedPaths(rules)) {
    statements.push(`${create} if not exists ${fieldIndexName(path)} on stowage_docs (tenant_id, collection, ${dialect.fieldSql(path)}, seq)`);
  }
  for (const text of statements) {
    try {
      await sql.raw(text).execute(db);
    } catch (e) {
      // Another instance made it at the same moment (PostgreSQL's catalog refuses the second).
      if (!/already exists|duplicate key/i.test(String((e as Error)?.message))) throw e;
    }
  }
}
