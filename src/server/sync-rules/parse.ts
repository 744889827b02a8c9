/**
 * The sync rules file (`serve --rules FILE`, docs/PROTOCOL.md "Sync rules"): a line-based text,
 * so that every refusal names its line. This file turns the text into lines of syntax; check.ts
 * gives them types and meaning.
 *
 *   claims: sub, team, level:number
 *   index todos: project, done
 *   todos read: owner == auth.sub or shared == true
 *   todos write: owner == auth.sub
 *   * read: true
 */
import { COLLECTION } from "../../names.ts";

/** A literal of the rules language. */
export type Literal = string | number | boolean | null;

/** One side of a comparison. */
export type Operand = { kind: "field"; path: string } | { kind: "claim"; name: string } | { kind: "literal"; value: Literal };

export type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=";

/** A rule's expression. */
export type Expr =
  | { kind: "const"; value: boolean }
  | { kind: "and" | "or"; left: Expr; right: Expr }
  | { kind: "not"; expr: Expr }
  | { kind: "cmp"; op: CompareOp; left: Operand; right: Operand };

/** A line that says something. */
export type RulesLine =
  | { kind: "claims"; line: number; claims: { name: string; type: "string" | "number" | "boolean" }[] }
  | { kind: "index"; line: number; collection: string; fields: string[] }
  | { kind: "rule"; line: number; collection: string; access: "read" | "write"; expr: Expr };

/** A refusal of the rules file, at a line (1-based). */
export class RulesError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(message);
    this.line = line;
  }
}

const FIELD_PART = "[A-Za-z_][A-Za-z0-9_]*";
const FIELD_PATH = new RegExp(`^${FIELD_PART}(\\.${FIELD_PART})*$`);
const CLAIM = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The lines of a rules file, comments and blank lines dropped. Throws RulesError. */
export function parseRulesText(text: string): RulesLine[] {
  const out: RulesLine[] = [];
  // An editor's byte order mark is not part of the first line.
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = stripComment(lines[i], line).trim();
    if (raw === "") continue;
    const claims = /^claims\s*:(.*)$/.exec(raw);
    if (claims) {
      out.push({ kind: "claims", line, claims: parseClaims(claims[1], line) });
      continue;
    }
    const index = /^index\s+(\S+)\s*:(.*)$/.exec(raw);
    if (index) {
      const collection = collectionPattern(index[1], line);
      const fields = index[2].split(",").map((f) => f.trim());
      if (fields.length === 0 || fields.some((f) => f === "")) throw new RulesError(line, `index ${collection}: expected a comma-separated list of field paths`);
      for (const f of fields) if (!FIELD_PATH.test(f)) throw new RulesError(line, `index ${collection}: ${JSON.stringify(f)} is not a field path (letters, digits, _ and dots)`);
      out.push({ kind: "index", line, collection, fields });
      continue;
    }
    const rule = /^(\S+)\s+(read|write)\s*:(.*)$/.exec(raw);
    if (rule) {
      const collection = collectionPattern(rule[1], line);
      out.push({ kind: "rule", line, collection, access: rule[2] as "read" | "write", expr: parseExpr(rule[3], line) });
      continue;
    }
    throw new RulesError(line, `cannot parse ${JSON.stringify(raw.slice(0, 80))}: expected "claims: …", "index COLLECTION: …" or "COLLECTION read|write: EXPRESSION"`);
  }
  return out;
}

/** The line without its `#` comment (a `#` inside a string literal is kept). */
function stripComment(text: string, line: number): string {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (c === "#" && !quoted) return text.slice(0, i);
  }
  if (quoted) throw new RulesError(line, "a string literal is not closed");
  return text;
}

function collectionPattern(name: string, line: number): string {
  if (name === "*" || COLLECTION.test(name)) return name;
  throw new RulesError(line, `unknown collection name pattern ${JSON.stringify(name.slice(0, 80))}: use a collection name ([a-z][a-z0-9_]*) or *`);
}

function parseClaims(text: string, line: number): { name: string; type: "string" | "number" | "boolean" }[] {
  const items = text.split(",").map((s) => s.trim());
  if (items.some((s) => s === "")) throw new RulesError(line, "claims: expected a comma-separated list such as sub, team, level:number");
  return items.map((item) => {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\s*:\s*(\w+))?$/.exec(item);
    if (!m) throw new RulesError(line, `claims: cannot parse ${JSON.stringify(item.slice(0, 60))}: use NAME or NAME:number / NAME:boolean / NAME:string`);
    const type = m[2] ?? "string";
    if (type !== "string" && type !== "number" && type !== "boolean") throw new RulesError(line, `claims: unknown type ${JSON.stringify(type)} for ${m[1]}: use string, number or boolean`);
    return { name: m[1], type };
  });
}

type Token = { t: "word"; v: string } | { t: "string"; v: string } | { t: "number"; v: number } | { t: "op"; v: string } | { t: "("; v: "(" } | { t: ")"; v: ")" };

function tokenize(text: string, line: number): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "(" || c === ")") {
      out.push({ t: c, v: c } as Token);
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      try {
        out.push({ t: "string", v: JSON.parse(text.slice(i, j + 1)) as string });
      } catch {
        throw new RulesError(line, `bad string literal ${text.slice(i, j + 1).slice(0, 60)}`);
      }
      i = j + 1;
      continue;
    }
    const op = /^(==|!=|<=|>=|<|>)/.exec(text.slice(i));
    if (op) {
      out.push({ t: "op", v: op[1] });
      i += op[1].length;
      continue;
    }
    const num = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?(?![A-Za-z0-9_.])/.exec(text.slice(i));
    if (num) {
      out.push({ t: "number", v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(text.slice(i));
    if (word) {
      out.push({ t: "word", v: word[0] });
      i += word[0].length;
      continue;
    }
    if (c === "=") throw new RulesError(line, 'a single "=": compare with == (or != < <= > >=)');
    throw new RulesError(line, `unexpected ${JSON.stringify(text.slice(i, i + 20))}`);
  }
  return out;
}

/** One rule's expression: `or` binds loosest, then `and`, then `not`. */
export function parseExpr(text: string, line: number): Expr {
  const tokens = tokenize(text, line);
  if (tokens.length === 0) throw new RulesError(line, "the rule is empty: write an expression, true or false");
  let at = 0;
  const peekWord = (w: string) => tokens[at]?.t === "word" && tokens[at].v === w;
  const describe = (t: Token | undefined) => (t === undefined ? "the end of the line" : JSON.stringify(String(t.v)));

  function or(): Expr {
    let left = and();
    while (peekWord("or")) {
      at++;
      left = { kind: "or", left, right: and() };
    }
    return left;
  }
  function and(): Expr {
    let left = unary();
    while (peekWord("and")) {
      at++;
      left = { kind: "and", left, right: unary() };
    }
    return left;
  }
  function unary(): Expr {
    if (peekWord("not")) {
      at++;
      return { kind: "not", expr: unary() };
    }
    if (tokens[at]?.t === "(") {
      at++;
      const inner = or();
      if (tokens[at]?.t !== ")") throw new RulesError(line, `expected ) but found ${describe(tokens[at])}`);
      at++;
      return inner;
    }
    const left = operand();
    const op = tokens[at];
    if (op?.t !== "op") {
      if (left.kind === "literal" && typeof left.value === "boolean") return { kind: "const", value: left.value };
      throw new RulesError(line, `expected a comparison (== != < <= > >=) after ${describeOperand(left)} but found ${describe(op)}`);
    }
    at++;
    const right = operand();
    return { kind: "cmp", op: op.v as CompareOp, left, right };
  }
  function operand(): Operand {
    const t = tokens[at++];
    if (t === undefined) throw new RulesError(line, "the expression ends too early");
    if (t.t === "string") return { kind: "literal", value: t.v };
    if (t.t === "number") return { kind: "literal", value: t.v };
    if (t.t !== "word") throw new RulesError(line, `expected a field, a claim (auth.NAME) or a literal but found ${describe(t)}`);
    if (t.v === "true" || t.v === "false") return { kind: "literal", value: t.v === "true" };
    if (t.v === "null") return { kind: "literal", value: null };
    if (t.v === "and" || t.v === "or" || t.v === "not") throw new RulesError(line, `expected a field, a claim or a literal but found ${JSON.stringify(t.v)}`);
    if (t.v.startsWith("auth.")) {
      const name = t.v.slice(5);
      if (!CLAIM.test(name)) throw new RulesError(line, `${JSON.stringify(t.v)}: a claim is auth.NAME, one level`);
      return { kind: "claim", name };
    }
    if (t.v === "auth") throw new RulesError(line, "auth alone is not a value: name a claim, e.g. auth.sub");
    return { kind: "field", path: t.v };
  }
  const expr = or();
  if (at < tokens.length) throw new RulesError(line, `unexpected ${describe(tokens[at])}: join comparisons with and / or`);
  return expr;
}

export function describeOperand(o: Operand): string {
  return o.kind === "field" ? o.path : o.kind === "claim" ? `auth.${o.name}` : JSON.stringify(o.value);
}
