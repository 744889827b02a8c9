import { StowageError } from "../../errors.ts";
import type { ServerDialect } from "./dialect.ts";
import { POSTGRES } from "./postgres.ts";
import { SQLITE } from "./sqlite.ts";

export type { ServerDialect } from "./dialect.ts";
export { POSTGRES, SQLITE };

/** The server dialects by the SQL an adapter declares it speaks (src/adapter.ts, capabilities.sql). */
const DIALECTS: Record<string, ServerDialect> = { sqlite: SQLITE, postgres: POSTGRES };

/** The names of every server dialect (`stowage version` reports each one's schema). */
export function serverDialectNames(): string[] {
  return Object.keys(DIALECTS);
}

/** The server dialect for an adapter's SQL; refuses one no server store is written for. */
export function serverDialect(sqlName: string): ServerDialect {
  const dialect = Object.hasOwn(DIALECTS, sqlName) ? DIALECTS[sqlName] : undefined;
  if (!dialect) throw new StowageError("input", `no server store speaks ${JSON.stringify(sqlName)} (known: ${Object.keys(DIALECTS).join(", ")})`);
  return dialect;
}
