import { readFileSync } from "node:fs";
import pg from "pg";
import { StowageError, describeValue } from "../../src/errors.ts";
import { isPostgresUrl } from "./url.ts";

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** The connection settings a PostgreSQL URL carries beyond what node-postgres reads itself. */
export interface PostgresTarget {
  /** The URL without the parameters below. */
  url: string;
  /** `?schema=`: where Stowage's tables live (schema-names.ts qualifies every statement with it). */
  schema?: string;
  /** `?prepare=`: named prepared statements on (default) or off (prepared.ts). */
  prepare?: boolean;
  /** `?pooler=transaction` (or Prisma's `?pgbouncer=true`): no connection keeps a session (session.ts). */
  pooler?: "transaction";
  /** `?pool_size=`: most connections this process opens. */
  poolSize?: number;
  /** `?statement_timeout=` in ms: a statement running longer is cancelled by the server. */
  statementTimeoutMs?: number;
  /** `?sslmode=require|verify-ca|verify-full` (with `sslrootcert=` a CA file), with libpq's meaning. */
  tls?: { mode: "require" | "verify-ca" | "verify-full"; rootCertPath?: string };
}

/** Parameters this module takes out of the URL; node-postgres reads the rest. */
const OURS = ["schema", "prepare", "pooler", "pgbouncer", "pool_size", "statement_timeout"];
const TLS_MODES = ["require", "verify-ca", "verify-full"];

/**
 * The database URL and its settings: `schema` as given, else a `?schema=` parameter of the
 * URL (so `stowage serve --data postgres://…/db?schema=stowage` works), else none (the
 * server's search_path); `?prepare=`, `?pooler=`, `?pool_size=`, `?statement_timeout=`, and
 * `?sslmode=` when it asks for TLS (node-postgres would read `require` as `verify-full`).
 * The answered URL no longer carries them.
 */
export function postgresTarget(options: { url: string; schema?: string }): PostgresTarget {
  if (typeof options.url !== "string" || !isPostgresUrl(options.url)) {
    throw new StowageError("config", `invalid PostgreSQL URL ${describeValue(redactPostgresUrl(String(options.url)))}: expected postgres://user@host:port/database`);
  }
  let url = options.url;
  let schema = options.schema;
  const out: Omit<PostgresTarget, "url" | "schema"> = {};
  const q = url.indexOf("?");
  if (q >= 0) {
    const params = new URLSearchParams(url.slice(q + 1));
    const get = (name: string) => params.get(name);
    const bad = (name: string, value: string, want: string) =>
      new StowageError("config", `invalid PostgreSQL URL parameter ${name}=${describeValue(value)}: use ${want}`);
    if (get("schema") !== null) schema ??= get("schema")!;
    const prepare = get("prepare");
    if (prepare !== null) {
      if (prepare !== "true" && prepare !== "false") throw bad("prepare", prepare, "prepare=true or prepare=false");
      out.prepare = prepare === "true";
    }
    const pooler = get("pooler");
    if (pooler !== null && pooler !== "transaction" && pooler !== "session" && pooler !== "none") throw bad("pooler", pooler, "pooler=transaction, pooler=session or pooler=none");
    const pgbouncer = get("pgbouncer");
    if (pgbouncer !== null && pgbouncer !== "true" && pgbouncer !== "false") throw bad("pgbouncer", pgbouncer, "pgbouncer=true or pgbouncer=false");
    if (pooler === "transaction" || pgbouncer === "true") out.pooler = "transaction";
    const poolSize = get("pool_size");
    if (poolSize !== null) {
      if (!/^[1-9][0-9]{0,3}$/.test(poolSize)) throw bad("pool_size", poolSize, "a whole number of connections, 1-9999");
      out.poolSize = Number(poolSize);
    }
    const timeout = get("statement_timeout");
    if (timeout !== null) {
      if (!/^(0|[1-9][0-9]{0,8})$/.test(timeout)) throw bad("statement_timeout", timeout, "milliseconds, e.g. statement_timeout=30000 (0: none)");
      out.statementTimeoutMs = Number(timeout);
    }
    const sslmode = get("sslmode");
    if (sslmode !== null && TLS_MODES.includes(sslmode)) {
      const root = get("sslrootcert");
      out.tls = { mode: sslmode as "require", ...(root ? { rootCertPath: root } : {}) };
      params.delete("sslmode");
      params.delete("sslrootcert");
    }
    if (OURS.some((name) => params.has(name)) || out.tls) {
      for (const name of OURS) params.delete(name);
      const rest = params.toString();
      url = url.slice(0, q) + (rest ? `?${rest}` : "");
    }
  }
  if (schema !== undefined && !SCHEMA_RE.test(schema)) {
    throw new StowageError("config", `invalid PostgreSQL schema name ${describeValue(schema)}: use [a-z_][a-z0-9_]{0,62}`);
  }
  return { url, ...(schema === undefined ? {} : { schema }), ...out };
}

/**
 * The `pg` client settings for a URL, shared by the pool and the LISTEN connection. Nothing
 * is set through startup parameters a pooler refuses (`options`): the schema goes into the
 * statements themselves (schema-names.ts), and a statement timeout is a startup parameter
 * only when no pooler is declared (else SET LOCAL in each transaction, prepared.ts).
 */
export function postgresConnectionSettings(options: { url: string; schema?: string; applicationName?: string }): pg.ClientConfig {
  const target = postgresTarget(options);
  return {
    connectionString: target.url,
    types: { getTypeParser },
    application_name: options.applicationName ?? "stowage",
    ...(target.statementTimeoutMs !== undefined && target.pooler === undefined ? { statement_timeout: target.statementTimeoutMs } : {}),
    ...(target.tls ? { ssl: tlsSettings(target.tls) } : {}),
  };
}

/**
 * libpq's sslmode meanings: `require` encrypts without checking the certificate (unless a
 * root certificate is given: then as `verify-ca`), `verify-ca` checks it was signed by the
 * root certificate, `verify-full` also checks the host name.
 */
function tlsSettings(tls: NonNullable<PostgresTarget["tls"]>): pg.ClientConfig["ssl"] {
  let ca: string | undefined;
  if (tls.rootCertPath) {
    try {
      ca = readFileSync(tls.rootCertPath, "utf8");
    } catch (e) {
      throw new StowageError("config", `cannot read sslrootcert ${describeValue(tls.rootCertPath)}: ${(e as Error).message}`, { cause: e });
    }
  }
  const mode = tls.mode === "require" && ca ? "verify-ca" : tls.mode;
  if (mode === "require") return { rejectUnauthorized: false };
  if (mode === "verify-ca") return { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  return { ca, rejectUnauthorized: true };
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
