/**
 * The rules file's meaning: which claims exist, one read and one write rule per collection
 * pattern, which fields are indexed, and a type for every field and claim, so a comparison
 * that could never mean what it says (a number field against a string claim) is refused at
 * startup with its line rather than silently matching nothing.
 */
import { describeOperand, parseRulesText, RulesError, type Expr, type Operand } from "./parse.ts";

export type ValueType = "string" | "number" | "boolean";

/** A collection pattern's rules. */
export interface CollectionRules {
  read?: Expr;
  write?: Expr;
  /** Fields subscriptions may filter on: those its rules name and its `index` lines. */
  indexed: Set<string>;
}

/** A checked rules file. */
export interface SyncRules {
  /** The file's text (its fingerprint goes into cursors: protocol/cursor.ts). */
  text: string;
  /** Declared claims and their types; `sub` is always a string. */
  claims: Map<string, ValueType>;
  /** Per collection name, and `*` for the others. */
  collections: Map<string, CollectionRules>;
  /** Per collection: field path → its type, for the SQL compiler (fields only compared with null are absent). */
  fieldTypes: Map<string, Map<string, ValueType>>;
}

/** Parses and checks a rules file; throws RulesError naming the line. */
export function checkRules(text: string): SyncRules {
  const lines = parseRulesText(text);
  const claims = new Map<string, ValueType>([["sub", "string"]]);
  let claimsLine: number | undefined;
  for (const l of lines) {
    if (l.kind !== "claims") continue;
    if (claimsLine !== undefined) throw new RulesError(l.line, `a second claims line (the first is line ${claimsLine}): declare every claim on one line`);
    claimsLine = l.line;
    for (const c of l.claims) {
      if (c.name === "sub" && c.type !== "string") throw new RulesError(l.line, "claims: sub is always a string");
      claims.set(c.name, c.type);
    }
  }
  const collections = new Map<string, CollectionRules>();
  const fieldTypes = new Map<string, Map<string, ValueType>>();
  const seen = new Map<string, number>();
  const entry = (c: string) => {
    let e = collections.get(c);
    if (!e) collections.set(c, (e = { indexed: new Set() }));
    return e;
  };
  for (const l of lines) {
    if (l.kind === "index") {
      for (const f of l.fields) entry(l.collection).indexed.add(f);
    } else if (l.kind === "rule") {
      const k = `${l.collection} ${l.access}`;
      const before = seen.get(k);
      if (before !== undefined) throw new RulesError(l.line, `a second ${l.access} rule for ${l.collection} (the first is line ${before}): join them with or`);
      seen.set(k, l.line);
      const e = entry(l.collection);
      let types = fieldTypes.get(l.collection);
      if (!types) fieldTypes.set(l.collection, (types = new Map()));
      checkExpr(l.expr, l.line, claims, types, e.indexed);
      e[l.access] = l.expr;
    }
  }
  return { text, claims, collections, fieldTypes };
}

function checkExpr(expr: Expr, line: number, claims: Map<string, ValueType>, types: Map<string, ValueType>, indexed: Set<string>): void {
  if (expr.kind === "const") return;
  if (expr.kind === "not") return checkExpr(expr.expr, line, claims, types, indexed);
  if (expr.kind === "and" || expr.kind === "or") {
    checkExpr(expr.left, line, claims, types, indexed);
    checkExpr(expr.right, line, claims, types, indexed);
    return;
  }
  const { left, right, op } = expr as Extract<Expr, { kind: "cmp" }>;
  const field = left.kind === "field" ? left : right.kind === "field" ? right : undefined;
  const other = field === left ? right : left;
  if (left.kind === "field" && right.kind === "field") throw new RulesError(line, `${left.path} ${op} ${right.path}: compare a field with a literal or a claim, not with another field`);
  if (!field && left.kind === "literal" && right.kind === "literal") throw new RulesError(line, `${describeOperand(left)} ${op} ${describeOperand(right)} compares two literals`);
  const typeOf = (o: Operand): ValueType | null => {
    if (o.kind === "claim") {
      const t = claims.get(o.name);
      if (!t) throw new RulesError(line, `unknown claim auth.${o.name}: declare it on the claims line (claims: sub, ${o.name})`);
      return t;
    }
    if (o.kind === "literal") return o.value === null ? null : (typeof o.value as ValueType);
    return types.get(o.path) ?? null;
  };
  const tl = typeOf(left);
  const tr = typeOf(right);
  if ((op !== "==" && op !== "!=") && (left.kind === "literal" && left.value === null || right.kind === "literal" && right.value === null)) {
    throw new RulesError(line, `${op} with null: only == and != compare with null`);
  }
  if (field) {
    indexed.add(field.path);
    const known = types.get(field.path);
    const t = typeOf(other);
    if (t !== null) {
      if (known !== undefined && known !== t) throw new RulesError(line, `incompatible types: ${field.path} is compared with a ${known} elsewhere and with ${describeOperand(other)} (a ${t}) here`);
      types.set(field.path, t);
    }
    return;
  }
  if (tl !== null && tr !== null && tl !== tr) throw new RulesError(line, `incompatible types: ${describeOperand(left)} is a ${tl}, ${describeOperand(right)} is a ${tr}`);
}
