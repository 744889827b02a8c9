import { isPlainObject } from "../json.ts";
import { isCollectionName, isDocId } from "../names.ts";
import { WIRE_LIMITS, type PushRequest } from "./wire.ts";

/**
 * Whether a parsed push body is exactly what `pushRequestSchema` (wire.ts) accepts, checked by
 * hand. The server tries this first and runs the zod schema only when it answers false, for
 * the 400's issues: zod walking a 1,000-op push cost a fifth of the server's CPU in a bulk
 * push (bench profile), and the answer here is the body itself, as zod's is field for field.
 * Narrower is safe (zod then decides); wider never is: test/protocol/push-shape.test.ts
 * compares both on every kind of bad field.
 */
export function isPushRequest(body: unknown): body is PushRequest {
  if (!isPlainObject(body)) return false;
  for (const k in body) if (k !== "clientId" && k !== "settled" && k !== "ops") return false;
  const { clientId, settled, ops } = body;
  if (typeof clientId !== "string" || !CLIENT_ID.test(clientId)) return false;
  if (settled !== undefined && !isCount(settled)) return false;
  if (!Array.isArray(ops) || ops.length < 1 || ops.length > WIRE_LIMITS.maxOpsPerPush) return false;
  for (let i = 0; i < ops.length; i++) if (!isOp(ops[i])) return false;
  return true;
}

/** wire.ts's clientId pattern. */
const CLIENT_ID = /^[A-Za-z0-9_-]{8,64}$/;

const isOpId = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v > 0;
const isCount = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

function isOp(op: unknown): boolean {
  if (!isPlainObject(op)) return false;
  const kind = op.op;
  const hasValue = kind === "put" || kind === "patch";
  if (!hasValue && kind !== "delete") return false;
  for (const k in op) {
    if (k === "opId" || k === "collection" || k === "id" || k === "op" || k === "tx" || k === "baseVersion") continue;
    if (k === "value" && hasValue) continue;
    return false;
  }
  if (!isOpId(op.opId) || !isCollectionName(op.collection) || !isDocId(op.id)) return false;
  if (op.tx !== undefined && !isOpId(op.tx)) return false;
  if (op.baseVersion !== undefined && op.baseVersion !== null && !isCount(op.baseVersion)) return false;
  // Own keys only: for…in above saw every enumerable one, and JSON.parse makes no others.
  return !hasValue || isPlainObject(op.value);
}
