/**
 * Schema selection that survives a pooler. A `search_path` set per connection (the `options`
 * startup parameter, or SET) is session state: PgBouncer refuses `options` outright, and in
 * transaction mode hands each transaction whichever server connection is free. So with a
 * schema, every statement names it: the core's SQL speaks of its own objects by their fixed
 * names (`stowage_docs`, `stowage_notify_change()`, …), and this rewrites exactly those names,
 * outside string literals and dollar-quoted bodies, to `"schema".name`, and `current_schema()`
 * to the schema's name. The set of names is closed (the core's tables and trigger functions),
 * so the rewrite cannot touch a user's identifiers; values never pass through it (they are
 * bound, or quoted literals, which it skips).
 */

/** The core's tables and functions, as named in src/server/schema.ts and src/server/sql/postgres.ts. */
const OBJECTS = "stowage_(?:tenants|keys|docs|doc_moves|clients|op_results|notify_change|notify_key)";

// A literal, a dollar-quoted body, or one of our names (bare or double-quoted, not already qualified).
const TOKENS = new RegExp(`('(?:[^']|'')*')|(\\$([A-Za-z_]*)\\$[\\s\\S]*?\\$\\3\\$)|(?<![\\w."$])("?)(${OBJECTS})\\4(?![\\w"$])|(current_schema\\(\\))`, "g");

const MAX_CACHED = 4096;

/** Rewrites statement texts for one schema; the core sends few distinct texts, so each is rewritten once. */
export function schemaQualifier(schema: string): (text: string) => string {
  const cache = new Map<string, string>();
  const quoted = `"${schema}"`;
  return (text) => {
    let out = cache.get(text);
    if (out !== undefined) return out;
    out = text.replace(TOKENS, (all, literal, body, _tag, q, name, current) => {
      if (literal !== undefined || body !== undefined) return all;
      if (current !== undefined) return `'${schema}'::name`;
      return `${quoted}.${q}${name}${q}`;
    });
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(text, out);
    return out;
  };
}
