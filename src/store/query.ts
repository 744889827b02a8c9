import { StowageError, describeValue } from "../errors.ts";
import { assertFieldPath, jsonPath } from "../names.ts";
import { INTEGER_PARAM, TEXT_PARAM } from "./sql.ts";
import type { FieldFilter, ListOptions, Scalar } from "./types.ts";

const OPS: Record<string, string> = { eq: "=", ne: "!=", gt: ">", gte: ">=", lt: "<", lte: "<=" };
export const MAX_LIMIT = 10_000;

/** The SQL expression for a field; field paths are validated, so inlining is safe, and the
 * literal path is what lets SQLite match the expression indexes declared in `indexSql`. */
export function fieldExpr(field: string): string {
  return field === "id" ? "id" : `json_extract(body, '${jsonPath(assertFieldPath(field))}')`;
}

export function indexSql(collection: string, fields: string[]): string {
  const name = `_stowage_ix_${collection}__${fields.map((f) => f.replace(/\./g, "_")).join("__")}`;
  return `create index if not exists "${name}" on _stowage_docs (collection, ${fields.map(fieldExpr).join(", ")})`;
}

/** SQLite stores booleans from JSON as 0/1; compare with what json_extract returns. */
function sqlValue(value: unknown, field: string): string | number | null {
  if (value === null) return null;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  throw new StowageError("input", `filter on ${field} has unsupported value ${describeValue(value)}: use a string, number, boolean or null`);
}

export interface ListQuery {
  sql: string;
  params: unknown[];
  limit: number;
  orderField: string;
  descending: boolean;
}

/** Builds the SELECT for `list`; `knownField` rejects fields a schema does not declare. */
export function buildList(collection: string, options: ListOptions, knownField: (f: string) => boolean): ListQuery {
  const where = filterSql(collection, options.where ?? {}, knownField);
  const params: unknown[] = [collection, ...where.params];
  const clauses = [`collection = ${TEXT_PARAM}`, ...where.clauses];

  let orderField = options.orderBy ?? "id";
  const descending = orderField.startsWith("-");
  if (descending) orderField = orderField.slice(1);
  assertFieldPath(orderField);
  if (orderField !== "id" && !knownField(orderField)) {
    throw new StowageError("input", `unknown field ${JSON.stringify(orderField)} in orderBy on collection ${collection}`);
  }
  const orderExpr = fieldExpr(orderField);
  const dir = descending ? "desc" : "asc";

  if (options.cursor !== undefined) {
    const [lastValue, lastId] = decodeCursor(options.cursor);
    if (orderField === "id") {
      clauses.push(`id ${descending ? "<" : ">"} ?`);
      params.push(lastId);
    } else {
      // SQLite sorts NULL first ascending and last descending; keyset must follow that.
      const cmp = descending ? "<" : ">";
      if (lastValue === null) {
        clauses.push(descending ? `(${orderExpr} is null and id < ?)` : `((${orderExpr} is null and id > ?) or ${orderExpr} is not null)`);
        params.push(lastId);
      } else {
        clauses.push(
          `(${orderExpr} ${cmp} ? or (${orderExpr} = ? and id ${cmp} ?)${descending ? ` or ${orderExpr} is null` : ""})`,
        );
        params.push(lastValue, lastValue, lastId);
      }
    }
  }

  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new StowageError("input", `limit must be an integer from 1 to ${MAX_LIMIT}, got ${describeValue(limit)}`);
  }
  params.push(limit + 1);
  const select = orderField === "id" ? "id, body" : `id, body, ${orderExpr} as k`;
  const order = orderField === "id" ? `id ${dir}` : `${orderExpr} ${dir}, id ${dir}`;
  return {
    sql: `select ${select} from _stowage_docs where ${clauses.join(" and ")} order by ${order} limit ${INTEGER_PARAM}`,
    params,
    limit,
    orderField,
    descending,
  };
}

/**
 * The SQL conditions (all must hold) a `where` puts on `_stowage_docs` rows, with their
 * parameters: `list` uses them, and so does the partial-sync view (subscriptions.ts), so a
 * document is held exactly when `list` with the same `where` would show it.
 */
export function filterSql(collection: string, where: Record<string, FieldFilter>, knownField: (f: string) => boolean = () => true): { clauses: string[]; params: unknown[] } {
  const params: unknown[] = [];
  const clauses: string[] = [];
  for (const [field, filter] of Object.entries(where)) {
    assertFieldPath(field);
    if (field !== "id" && !knownField(field)) {
      throw new StowageError("input", `unknown field ${JSON.stringify(field)} in filter on collection ${collection}`);
    }
    const expr = fieldExpr(field);
    for (const [op, value] of normalizeFilter(field, filter)) {
      if (op === "in") {
        const list = value as Scalar[];
        if (!Array.isArray(list) || list.length === 0 || list.length > 1000) {
          throw new StowageError("input", `filter ${field}.in needs an array of 1-1000 values, got ${describeValue(value)}`);
        }
        clauses.push(`${expr} in (${list.map(() => "?").join(",")})`);
        for (const v of list) params.push(sqlValue(v, field));
      } else if (value === null) {
        if (op !== "=" && op !== "!=") throw new StowageError("input", `filter ${field} cannot compare null with a range`);
        clauses.push(`${expr} is ${op === "=" ? "" : "not "}null`);
      } else {
        clauses.push(`${expr} ${op} ?`);
        params.push(sqlValue(value, field));
      }
    }
  }
  return { clauses, params };
}

function normalizeFilter(field: string, filter: FieldFilter): [string, unknown][] {
  if (filter === null || typeof filter !== "object") return [["=", filter]];
  if (Array.isArray(filter)) throw new StowageError("input", `filter on ${field} must be a value or an operator object, got an array`);
  const entries = Object.entries(filter);
  if (entries.length === 0) throw new StowageError("input", `filter on ${field} has no operator`);
  return entries.map(([op, value]) => {
    if (op === "in") return ["in", value];
    const sqlOp = OPS[op];
    if (!sqlOp) throw new StowageError("input", `unknown filter operator ${JSON.stringify(op)} on ${field}: use eq, ne, gt, gte, lt, lte or in`);
    return [sqlOp, value];
  });
}

export function encodeCursor(value: unknown, id: string): string {
  return btoa(JSON.stringify([value ?? null, id])).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeCursor(cursor: string): [string | number | null, string] {
  try {
    const parsed = JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/")));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[1] === "string" &&
        (parsed[0] === null || typeof parsed[0] === "string" || typeof parsed[0] === "number")) {
      return parsed as [string | number | null, string];
    }
  } catch {
    // fall through to the error below
  }
  throw new StowageError("input", `invalid list cursor ${describeValue(cursor)}`);
}
