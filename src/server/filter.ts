import { HttpError } from "./http.ts";
import { isPlainObject, type JsonObject } from "../json.ts";
import { isStowageError } from "../errors.ts";
import { assertFieldPath } from "../names.ts";

/** A compiled `where`: the library's filter syntax (`{"done":false,"n":{"gte":2}}`), evaluated in memory. */
export type Matcher = (doc: JsonObject) => boolean;

type Scalar = string | number | boolean | null;
const OPS = new Set(["eq", "ne", "gt", "gte", "lt", "lte", "in"]);

function bad(message: string): HttpError {
  return new HttpError(400, "bad_request", message);
}

export function field(path: string): string {
  try {
    return assertFieldPath(path);
  } catch (e) {
    if (isStowageError(e)) throw bad(e.message);
    throw e;
  }
}

export function getField(doc: JsonObject, path: string): unknown {
  let v: unknown = doc;
  for (const part of path.split(".")) {
    if (!isPlainObject(v)) return undefined;
    v = Object.hasOwn(v, part) ? v[part] : undefined;
  }
  return v;
}

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
}

/** Parses the URL-encoded JSON `where`; refuses unknown operators and non-scalar operands with 400. */
export function compileWhere(text: string | undefined): Matcher {
  if (text === undefined || text === "") return () => true;
  let where: unknown;
  try {
    where = JSON.parse(text);
  } catch {
    throw bad("where is not valid JSON");
  }
  if (!isPlainObject(where)) throw bad("where must be a JSON object of field filters");
  const tests: Matcher[] = [];
  for (const [path, filter] of Object.entries(where)) {
    field(path);
    const entries: [string, unknown][] = isPlainObject(filter) ? Object.entries(filter) : [["eq", filter]];
    if (entries.length === 0) throw bad(`filter on ${path} has no operator`);
    for (const [op, operand] of entries) {
      if (!OPS.has(op)) throw bad(`unknown filter operator ${JSON.stringify(op).slice(0, 40)} on ${path}: use eq, ne, gt, gte, lt, lte or in`);
      if (op === "in") {
        if (!Array.isArray(operand) || operand.length === 0 || operand.length > 1000 || !operand.every(isScalar)) {
          throw bad(`filter ${path}.in needs an array of 1-1000 strings, numbers, booleans or nulls`);
        }
        const set = operand as Scalar[];
        tests.push((d) => set.some((s) => same(getField(d, path), s)));
        continue;
      }
      if (!isScalar(operand)) throw bad(`filter on ${path} needs a string, number, boolean or null`);
      tests.push((d) => test(op, getField(d, path), operand));
    }
  }
  return (d) => tests.every((t) => t(d));
}

function same(a: unknown, b: Scalar): boolean {
  return (a === undefined ? null : a) === b;
}

function test(op: string, value: unknown, operand: Scalar): boolean {
  if (op === "eq") return same(value, operand);
  if (op === "ne") return !same(value, operand);
  // Ranges compare like with like; a missing field or another type never matches.
  if (typeof value !== typeof operand || value === null || operand === null || typeof value === "object") return false;
  const a = value as string | number | boolean;
  const b = operand as string | number | boolean;
  if (op === "gt") return a > b;
  if (op === "gte") return a >= b;
  if (op === "lt") return a < b;
  return a <= b;
}

/** Sort order like SQLite's: null, then numbers and booleans, then strings, then anything else as JSON. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return 0;
  const x = ra === 1 ? Number(a) : ra === 2 ? (a as string) : JSON.stringify(a);
  const y = rb === 1 ? Number(b) : rb === 2 ? (b as string) : JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function rank(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === "number" || typeof v === "boolean") return 1;
  if (typeof v === "string") return 2;
  return 3;
}
