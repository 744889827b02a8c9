/**
 * Rules bound to one principal: predicates over a document's value. Comparisons mean what
 * `list`'s `where` means (server/filter.ts): `==` treats a missing field as null, ranges only
 * compare like with like. A claim the principal's credentials lack (or carry with another
 * type) makes its comparison false, `!=` included: a token without `team` reads no team's
 * documents rather than those whose `team` is missing.
 */
import type { JsonObject } from "../../json.ts";
import { getField } from "../filter.ts";
import type { Principal } from "../keys.ts";
import type { SyncRules, ValueType } from "./check.ts";
import type { Expr, Literal, Operand } from "./parse.ts";

/** A document predicate; null stands for absent or deleted, which no rule admits. */
export type DocPredicate = (value: JsonObject | null) => boolean;

/** The rules of `rules` for one principal. */
export interface BoundRules {
  rules: SyncRules;
  /** The principal's claims the rules may name (`sub` and the declared ones), undefined when missing. */
  claims: Map<string, Literal | undefined>;
  /** May the principal read this document of `collection`? */
  read(collection: string): DocPredicate;
  /** May the principal write this (before and after) value of `collection`? */
  write(collection: string): DocPredicate;
}

const DENY: DocPredicate = () => false;

/** The claim values a principal has: `sub` from the token, else the subject, else an API key's id. */
export function claimsOf(rules: SyncRules, principal: Principal): Map<string, Literal | undefined> {
  const out = new Map<string, Literal | undefined>();
  for (const [name, type] of rules.claims) {
    let v: unknown = principal.claims?.[name];
    // An API key's principal is the key (`k_…`); a token or hook identity without a subject has no sub.
    if (name === "sub" && v === undefined) v = principal.subject ?? (principal.keyId.startsWith("k_") ? principal.keyId : undefined);
    out.set(name, typeMatches(v, type) ? (v as Literal) : undefined);
  }
  return out;
}

function typeMatches(v: unknown, type: ValueType): boolean {
  return type === "number" ? typeof v === "number" && Number.isFinite(v) : typeof v === type;
}

export function bindPrincipal(rules: SyncRules, principal: Principal): BoundRules {
  const claims = claimsOf(rules, principal);
  const cache = new Map<string, DocPredicate>();
  const pick = (collection: string, access: "read" | "write"): DocPredicate => {
    const k = `${access}:${collection}`;
    let p = cache.get(k);
    if (p) return p;
    const expr = rules.collections.get(collection)?.[access] ?? rules.collections.get("*")?.[access];
    p = expr ? compileExpr(expr, claims) : DENY;
    cache.set(k, p);
    return p;
  };
  return { rules, claims, read: (c) => pick(c, "read"), write: (c) => pick(c, "write") };
}

/** The rule with the principal's claims put in: a predicate over one document. */
export function compileExpr(expr: Expr, claims: Map<string, Literal | undefined>): DocPredicate {
  const test = compile(expr, claims);
  return (value) => value !== null && test(value);
}

type Test = (doc: JsonObject) => boolean;

function compile(expr: Expr, claims: Map<string, Literal | undefined>): Test {
  switch (expr.kind) {
    case "const":
      return expr.value ? () => true : () => false;
    case "not": {
      const inner = compile(expr.expr, claims);
      return (d) => !inner(d);
    }
    case "and": {
      const l = compile(expr.left, claims);
      const r = compile(expr.right, claims);
      return (d) => l(d) && r(d);
    }
    case "or": {
      const l = compile(expr.left, claims);
      const r = compile(expr.right, claims);
      return (d) => l(d) || r(d);
    }
    case "cmp": {
      const value = (o: Operand): ((d: JsonObject) => unknown) | { missing: true } => {
        if (o.kind === "literal") return () => o.value;
        if (o.kind === "claim") {
          const c = claims.get(o.name);
          return c === undefined ? { missing: true } : () => c;
        }
        return (d) => getField(d, o.path);
      };
      const l = value(expr.left);
      const r = value(expr.right);
      if (typeof l !== "function" || typeof r !== "function") return () => false;
      const op = expr.op;
      return (d) => compareOp(op, l(d), r(d));
    }
  }
}

/** `a OP b` as `where` evaluates it (filter.ts): a missing field is null for == and !=. */
export function compareOp(op: string, a: unknown, b: unknown): boolean {
  const x = a === undefined ? null : a;
  const y = b === undefined ? null : b;
  if (op === "==") return x === y;
  if (op === "!=") return x !== y;
  if (typeof x !== typeof y || x === null || y === null || typeof x === "object") return false;
  const p = x as string | number | boolean;
  const q = y as string | number | boolean;
  if (op === "<") return p < q;
  if (op === "<=") return p <= q;
  if (op === ">") return p > q;
  return p >= q;
}
