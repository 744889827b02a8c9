/**
 * Per-op rules an embedding application installs on the server: `authorize` (may this
 * principal make this write?), `schemas` (is the stored result valid?) and `resolve` (what is
 * stored when last-writer-wins would simply overwrite). They run inside the write transaction,
 * on the op's tenant only, exactly once per op: a resent op is answered from the record
 * before any rule sees it.
 */
import type { StowageErrorIssue } from "../errors.ts";
import { isPlainObject, type JsonObject } from "../json.ts";
import type { DocState, Evaluated, RuleRunner, WriteOp, WriteOutcome } from "./write-op.ts";
import type { Principal } from "./keys.ts";

export type { Evaluated, RuleRunner };

/** A write as the rules see it. */
export interface RuleOp {
  /** Collection of the document. */
  collection: string;
  /** Document id. */
  id: string;
  /** `put` (whole document), `patch` (JSON Merge Patch) or `delete`. */
  op: "put" | "patch" | "delete";
  /** The document (put) or the merge patch (patch) as sent; absent for delete. */
  value?: JsonObject;
  /** Present on strict writes: the version the writer last saw (null: "must not exist"). */
  baseVersion?: number | null;
  /** The live stored value before this op (after earlier ops of the same push), or null. */
  current: JsonObject | null;
}

/**
 * May `principal` make this write? `true`/`undefined` allows it; `false` or a message refuses
 * it: the op answers `rejected` with code `forbidden` (and that message).
 */
export type AuthorizeHook = (op: RuleOp, principal: Principal) => boolean | string | void | undefined | Promise<boolean | string | void | undefined>;

/** A zod schema (anything with `safeParse`), or a function answering a problem or nothing. */
export type DocSchema =
  | { safeParse(value: unknown): { success: boolean; error?: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } } }
  | ((value: JsonObject) => string | { message: string; issues?: StowageErrorIssue[] } | null | undefined | void);

/** What `resolve` is given. */
export interface ResolveInput {
  /** Collection of the document. */
  collection: string;
  /** Document id. */
  id: string;
  /** The live stored value, or null when absent or deleted. */
  current: JsonObject | null;
  /** What last-writer-wins would store: the put value, or `current` merged with the patch. */
  incoming: JsonObject;
  /** The op itself (its `value` is the patch for a patch). */
  op: RuleOp;
  /** Who is writing. */
  principal: Principal;
}

/** The value to store instead of `incoming` (for last-writer-wins writes: no baseVersion). */
export type ResolveHook = (input: ResolveInput) => JsonObject | Promise<JsonObject>;

export interface RulesOptions {
  /** Refuses ops (code `forbidden`). */
  authorize?: AuthorizeHook;
  /** Per collection: the stored value must pass (code `invalid`); the value includes its `id`. */
  schemas?: Record<string, DocSchema>;
  /** Custom conflict resolution for last-writer-wins puts and patches. */
  resolve?: ResolveHook;
}

/** The rules bound to a principal, or undefined when none are installed (apply.ts's fast path). */
export function bindRules(options: RulesOptions, principal: Principal, maxValueChars: number): RuleRunner | undefined {
  const { authorize, resolve } = options;
  const schemas = options.schemas ?? {};
  if (!authorize && !resolve && Object.keys(schemas).length === 0) return undefined;
  return {
    async evaluate(op, current, base) {
      const currentValue = current();
      const ruleOp: RuleOp = { collection: op.collection, id: op.id, op: op.op, current: currentValue };
      if (op.value !== undefined) ruleOp.value = op.value;
      if (op.baseVersion !== undefined) ruleOp.baseVersion = op.baseVersion;
      if (authorize) {
        const verdict = await authorize(ruleOp, principal);
        if (verdict === false || typeof verdict === "string") {
          const message = typeof verdict === "string" && verdict !== "" ? verdict : `${op.op} of ${op.collection}/${op.id} is not allowed`;
          return { outcome: { status: "rejected", error: { code: "forbidden", message } } };
        }
      }
      const result = base();
      const { outcome, next } = result;
      if (outcome.status !== "applied" || !next || next.deleted || !next.value) return result;
      let value = next.value;
      if (resolve && op.baseVersion === undefined) {
        const resolved = await resolve({ collection: op.collection, id: op.id, current: currentValue, incoming: value, op: ruleOp, principal });
        if (!isPlainObject(resolved)) throw new Error(`the resolve hook answered ${typeof resolved} for ${op.collection}/${op.id}; it must answer a JSON object`);
        // A JSON round trip drops what JSON cannot carry (undefined, functions), as storing would.
        value = JSON.parse(JSON.stringify({ ...resolved, id: op.id })) as JsonObject;
      }
      const schema = Object.hasOwn(schemas, op.collection) ? schemas[op.collection] : undefined;
      if (schema) {
        const problem = check(schema, value);
        if (problem) {
          const error: WriteOutcome["error"] = { code: "invalid", message: `document ${op.collection}/${op.id} is invalid: ${problem.message}` };
          if (problem.issues?.length) error!.issues = problem.issues;
          return { outcome: { status: "rejected", error } };
        }
      }
      if (value !== next.value) {
        const body = JSON.stringify(value);
        if (body.length > maxValueChars) {
          const message = `document ${op.collection}/${op.id} would be ${body.length} characters of JSON after resolve; the limit is ${maxValueChars}`;
          return { outcome: { status: "rejected", error: { code: "invalid", message } } };
        }
        next.value = value;
        next.body = body;
        outcome.value = value;
      }
      return result;
    },
  };
}

function check(schema: DocSchema, value: JsonObject): { message: string; issues?: StowageErrorIssue[] } | undefined {
  if (typeof schema === "function") {
    const answer = schema(value);
    if (answer === null || answer === undefined) return undefined;
    return typeof answer === "string" ? { message: answer } : answer;
  }
  const result = schema.safeParse(value);
  if (result.success) return undefined;
  const issues: StowageErrorIssue[] = (result.error?.issues ?? []).slice(0, 20).map((i) => ({
    path: i.path.map((p) => (typeof p === "number" ? p : String(p))),
    message: i.message,
  }));
  const first = issues[0];
  const message = first ? `${first.path.length ? `${first.path.join(".")}: ` : ""}${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ""}` : "the schema refused it";
  return { message, issues };
}
