import pg from "pg";
import { StowageError, describeValue } from "../../src/errors.ts";

const URL_RE = /^postgres(ql)?:\/\//i;
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The database URL and schema to use: `schema` as given, else a `?schema=` parameter of the
 * URL (so `stowage serve --data postgres://…/db?schema=stowage` works), else none (the
 * server's search_path). `?prepare=false` turns named prepared statements off (prepared.ts).
 * The answered URL no longer carries either parameter.
 */
export function postgresTarget(options: { url: string; schema?: string }): { url: string; schema?: string; prepare?: boolean } {
  if (typeof options.url !== "string" || !URL_RE.test(options.url)) {
    throw new StowageError("config", `invalid PostgreSQL URL ${describeValue(redactPostgresUrl(String(options.url)))}: expected postgres://user@host:port/database`);
  }
  let url = options.url;
  let schema = options.schema;
  let prepare: boolean | undefined;
  const q = url.indexOf("?");
  if (q >= 0) {
    const params = new URLSearchParams(url.slice(q + 1));
    const fromUrl = params.get("schema");
    const prepareParam = params.get("prepare");
    if (fromUrl !== null || prepareParam !== null) {
      params.delete("schema");
      params.delete("prepare");
      if (fromUrl !== null) schema ??= fromUrl;
      const rest = params.toString();
      url = url.slice(0, q) + (rest ? `?${rest}` : "");
    }
    if (prepareParam !== null) {
      if (prepareParam !== "true" && prepareParam !== "false") {
        throw new StowageError("config", `invalid PostgreSQL URL parameter prepare=${describeValue(prepareParam)}: use prepare=true or prepare=false`);
      }
      prepare = prepareParam === "true";
    }
  }
  if (schema !== undefined && !SCHEMA_RE.test(schema)) {
    throw new StowageError("config", `invalid PostgreSQL schema name ${describeValue(schema)}: use [a-z_][a-z0-9_]{0,62}`);
  }
  return { url, ...(schema === undefined ? {} : { schema }), ...(prepare === undefined ? {} : { prepare }) };
}

/**
 * The `pg` client settings for a URL and schema, shared by the pool and the LISTEN connection
 * so both see the same database and schema.
 */
export function postgresConnectionSettings(options: { url: string; schema?: string; applicationName?: string }): pg.ClientConfig {
  const { url, schema } = postgresTarget(options);
  return {
    connectionString: url,
    // The schema name is checked by postgresTarget, so it needs no quoting here.
    options: schema ? `-c search_path=${schema}` : undefined,
    types: { getTypeParser },
    application_name: options.applicationName ?? "stowage",
  };
}

// jsonb comes back as its JSON text, exactly as a SQLite text column would: the server core
// parses or forwards document bodies itself and never sees a driver-specific shape. int8
// comes back as a number (sequence numbers stay below 2^53), like SQLite's integers.
const INT8 = 20;
const JSONB = 3802;
const JSON_OID = 114;
function getTypeParser(oid: number, format?: "text" | "binary"): (value: string) => unknown {
  if (oid === JSONB || oid === JSON_OID) return (value) => value;
  if (oid === INT8) return (value) => (Number.isSafeInteger(Number(value)) ? Number(value) : value);
  return pg.types.getTypeParser(oid, format as "text");
}

/** The URL without its password, for messages and status. */
export function redactPostgresUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]+):[^@/]*@/i, "$1:***@");
}
