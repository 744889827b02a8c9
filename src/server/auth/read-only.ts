/**
 * A push from credentials without the write scope (a read key, a token whose scope was
 * downgraded). Usually it is refused whole: 403 `forbidden`, nothing written. But when it
 * repeats ops this client already had answered (the answer was lost, then the scope changed),
 * a 403 would leave the client guessing whether those ops were applied. Then the push is
 * answered per op like any other: repeated ops as recorded (duplicate, or their recorded
 * refusal), every new op `rejected` with code `forbidden`; nothing new is applied.
 */
import type { PushRequest } from "../../protocol/wire.ts";
import type { Principal } from "../keys.ts";
import type { RuleRunner } from "../rules.ts";
import { num } from "../schema.ts";
import type { ServerStore } from "../store.ts";

/** Whether this push repeats ops the server already answered for its client. */
export async function repeatsAnsweredOps(store: ServerStore, principal: Principal, req: PushRequest): Promise<boolean> {
  const row = await store.db
    .selectFrom("stowage_clients")
    .select("last_op_id")
    .where("tenant_id", "=", principal.tenantId)
    .where("client_id", "=", req.clientId)
    .executeTakeFirst();
  const last = row ? num(row.last_op_id) : 0;
  return req.ops.some((op) => op.opId <= last);
}

/** Rules that refuse every new op: the push of a principal who may only read. */
export function readOnlyRules(principal: Principal): RuleRunner {
  const has = principal.scopes.length ? principal.scopes.join(" ") : "none";
  return {
    async evaluate(op) {
      return { outcome: { status: "rejected", error: { code: "forbidden", message: `${op.op} of ${op.collection}/${op.id} needs the write scope; these credentials have: ${has}` } } };
    },
  };
}
