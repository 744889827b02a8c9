/**
 * How a view's pull finds its documents with indexes: the view (read rules with the claims put
 * in, intersected with the union of subscriptions) is over-approximated by a few "anchors",
 * each one index range read in seq order:
 *   - a collection and one field equality (`owner = 'ann'`): the field's expression index;
 *   - a collection and one numeric field range (`n >= 2 and n < 5`): the same index, the range
 *     read and sorted by seq (an equality is preferred: it needs no sort). Strings are not
 *     ranged: the stores order them by UTF-8 bytes, JavaScript by UTF-16 units;
 *   - a whole collection: the (tenant, collection, seq) index;
 *   - the collections no rule names, when the wildcard rule reads them: the tenant's seq index.
 * A conjunction keeps the narrower side's anchors, a disjunction the union of both sides'. Rows
 * an anchor finds are then tested exactly (View.has), so an anchor may find more, never less.
 */
import type { SyncRules } from "./check.ts";
import { compareOp, type BoundRules } from "./match.ts";
import type { Expr, Literal, Operand } from "./parse.ts";

/** One subscription as the wire carries it (view.ts parses it). */
export interface Subscription {
  collection: string;
  where?: Record<string, unknown>;
}

type Scalar = string | number | boolean;

/** A range's bounds: `lo` is `>`/`>=` a value, `hi` is `<`/`<=` one. */
export interface Range {
  lo?: [">" | ">=", Scalar];
  hi?: ["<" | "<=", Scalar];
}

export type Anchor =
  | { kind: "field"; collection: string; path: string; value: Scalar }
  | { kind: "range"; collection: string; path: string; range: Range }
  | { kind: "collection"; collection: string }
  | { kind: "others"; exclude: string[] };

type Alt = "all" | { path: string; value: Scalar } | { path: string; range: Range };

const isRange = (a: Alt) => a !== "all" && "range" in a;

/** Most alternatives one collection is read through before it is read whole. */
const MAX_ALTS = 16;

function norm(alts: Alt[]): Alt[] {
  if (alts.includes("all") || alts.length > MAX_ALTS) return ["all"];
  const seen = new Set<string>();
  return alts.filter((a) => {
    const k = JSON.stringify(a);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function and(a: Alt[], b: Alt[]): Alt[] {
  if (a.length === 0 || b.length === 0) return [];
  if (a[0] === "all") return b;
  if (b[0] === "all") return a;
  // Equalities read in seq order straight from the index; ranges need a sort: fewer ranges first, then fewer reads.
  const ra = a.filter(isRange).length;
  const rb = b.filter(isRange).length;
  if (ra !== rb) return ra < rb ? a : b;
  return a.length <= b.length ? a : b;
}

function rangeOf(op: string, v: Scalar, fieldLeft: boolean): Range {
  // `v OP field` is `field (mirrored OP) v`.
  const o = fieldLeft ? op : ({ "<": ">", "<=": ">=", ">": "<", ">=": "<=" } as Record<string, string>)[op];
  return o === ">" || o === ">=" ? { lo: [o, v] } : { hi: [o as "<" | "<=", v] };
}

function exprAlts(expr: Expr, claims: Map<string, Literal | undefined>): Alt[] {
  switch (expr.kind) {
    case "const":
      return expr.value ? ["all"] : [];
    case "not":
      return ["all"];
    case "and":
      return and(exprAlts(expr.left, claims), exprAlts(expr.right, claims));
    case "or":
      return norm([...exprAlts(expr.left, claims), ...exprAlts(expr.right, claims)]);
    case "cmp": {
      const value = (o: Operand): { missing: true } | { v: Literal } | { field: string } => {
        if (o.kind === "literal") return { v: o.value };
        if (o.kind === "claim") {
          const c = claims.get(o.name);
          return c === undefined ? { missing: true } : { v: c };
        }
        return { field: o.path };
      };
      const l = value(expr.left);
      const r = value(expr.right);
      if ("missing" in l || "missing" in r) return [];
      if ("v" in l && "v" in r) return compareOp(expr.op, l.v, r.v) ? ["all"] : [];
      const field = "field" in l ? l.field : (r as { field: string }).field;
      const v = "v" in l ? l.v : "v" in r ? r.v : null;
      if (expr.op === "==" && v !== null) return [{ path: field, value: v }];
      if (expr.op !== "!=" && typeof v === "number") return [{ path: field, range: rangeOf(expr.op, v, "field" in l) }];
      return ["all"];
    }
  }
}

function whereAlts(where: Record<string, unknown> | undefined): Alt[] {
  let out: Alt[] = ["all"];
  for (const [path, filter] of Object.entries(where ?? {})) {
    const f = filter !== null && typeof filter === "object" && !Array.isArray(filter) ? (filter as Record<string, unknown>) : { eq: filter };
    let alts: Alt[] = ["all"];
    const range: Range = {};
    const RANGE: Record<string, string> = { gt: ">", gte: ">=", lt: "<", lte: "<=" };
    for (const [op, operand] of Object.entries(f)) {
      if (op === "eq" && operand !== null) alts = and(alts, [{ path, value: operand as Scalar }]);
      if (op === "in" && Array.isArray(operand) && operand.length <= MAX_ALTS && !operand.includes(null)) {
        alts = and(alts, norm(operand.map((v) => ({ path, value: v as Scalar }))));
      }
      if (Object.hasOwn(RANGE, op) && typeof operand === "number") Object.assign(range, rangeOf(RANGE[op], operand, true));
    }
    if (range.lo || range.hi) alts = and(alts, [{ path, range }]);
    out = and(out, alts);
  }
  return out;
}

/** Most anchors one pull reads (each is a query per page): past it, collections are read whole, then the tenant. */
const MAX_ANCHORS = 64;

/** The anchors of a view (see the file's comment), or undefined: read the tenant's changes. */
export function anchorsOf(rules: SyncRules | undefined, bound: BoundRules | undefined, subs: Subscription[] | undefined): Anchor[] | undefined {
  const out = planAnchors(rules, bound, subs);
  if (out.length <= MAX_ANCHORS) return out;
  const whole = new Map<string, Anchor>();
  for (const a of out) whole.set(a.kind === "others" ? "\u0000others" : a.collection, a.kind === "others" ? a : { kind: "collection", collection: a.collection });
  return whole.size <= MAX_ANCHORS ? [...whole.values()] : undefined;
}

function planAnchors(rules: SyncRules | undefined, bound: BoundRules | undefined, subs: Subscription[] | undefined): Anchor[] {
  const read = (collection: string): Alt[] => {
    if (!rules || !bound) return ["all"];
    const expr = rules.collections.get(collection)?.read ?? rules.collections.get("*")?.read;
    return expr ? exprAlts(expr, bound.claims) : [];
  };
  const byCollection = new Map<string, Alt[]>();
  const add = (collection: string, alts: Alt[]) => byCollection.set(collection, norm([...(byCollection.get(collection) ?? []), ...alts]));
  const out: Anchor[] = [];
  if (subs) {
    for (const s of subs) add(s.collection, and(read(s.collection), whereAlts(s.where)));
  } else if (rules) {
    const listed = [...rules.collections.keys()].filter((c) => c !== "*");
    for (const c of listed) add(c, read(c));
    const wildcard = rules.collections.get("*")?.read;
    if (wildcard && bound && exprAlts(wildcard, bound.claims).length > 0) out.push({ kind: "others", exclude: listed });
  }
  for (const [collection, alts] of byCollection) {
    for (const a of alts) {
      if (a === "all") out.push({ kind: "collection", collection });
      else if ("range" in a) out.push({ kind: "range", collection, path: a.path, range: a.range });
      else out.push({ kind: "field", collection, path: a.path, value: a.value });
    }
  }
  return out;
}
