/**
 * Sync rules on the write path: a put or patch is allowed when the write rule holds for the
 * stored value before (when there is one) and for the value after; a delete when it holds for
 * the value before. A refusal is the op's own `rejected` / `forbidden` (as the read-only scope
 * answers), never a failure of the request. A conflict answer carries the stored value only
 * when the writer may read it.
 */
import type { JsonObject } from "../../json.ts";
import type { Evaluated, RuleRunner } from "../write-op.ts";
import type { BoundRules } from "./match.ts";

/** The write rules of `bound` in front of the application's own rules (`inner`, rules.ts), if any. */
export function writeRulesRunner(bound: BoundRules, inner: RuleRunner | undefined): RuleRunner {
  return {
    async evaluate(op, current, base) {
      const before = current();
      const may = bound.write(op.collection);
      const refuse = (why: string): Evaluated => ({
        outcome: { status: "rejected", error: { code: "forbidden", message: `${op.op} of ${op.collection}/${op.id} is not allowed by the sync rules (${why})` } },
      });
      if (before !== null && !may(before)) return refuse("the stored document fails the write rule");
      if (op.op === "delete" && before === null) {
        // Deleting nothing changes nothing; still answered as if the rule were asked of nothing.
        return base();
      }
      const result = inner ? await inner.evaluate(op, current, base) : base();
      const { outcome, next } = result;
      if (outcome.status === "conflict") {
        // The stored value travels back only to a writer allowed to read it.
        if (outcome.value && !bound.read(op.collection)(outcome.value)) outcome.value = null;
        return result;
      }
      if (outcome.status !== "applied" || !next || next.deleted) return result;
      const after = next.value ?? (JSON.parse(next.body ?? "{}") as JsonObject);
      if (!may(after)) return refuse("the new value fails the write rule");
      return result;
    },
  };
}
