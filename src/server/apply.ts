import type { Kysely } from "kysely";
import { mergePatch, type JsonObject } from "../json.ts";
import type { ServerDialect } from "./sql/dialect.ts";
import type { DocWriteRow } from "./docs-sql.ts";
import type { DocState, MoveTracker, RuleRunner, WriteOp, WriteOutcome } from "./write-op.ts";
import { num, type ServerTables } from "./tables.ts";

export type { DocState, WriteOp, WriteOutcome };

/**
 * A document row this transaction wrote, in its final state: exactly the rows whose seq is
 * now in (the tenant's seq before, after], which is what a pull of that range answers (live
 * events carry them, events/changes.ts).
 */
export interface WrittenDoc {
  collection: string;
  id: string;
  state: DocState;
  /** Its committed state before this transaction, when it was read (undefined: absent or not read); sync rules' moves and event views compare the two. */
  before?: DocState;
}

export interface ApplyContext {
  /** The tenant every read and write is confined to. */
  tenantId: string;
  /** The tenant's sequence counter before this transaction's changes. */
  seq: number;
  /** The pushing clientId (its own last writes pass the strict check), or null. */
  writer: string | null;
  /** Wall clock for `updated_at`, used only by the tombstone retention window. */
  now: number;
  /** Largest JSON text of one value, in characters. */
  maxValueChars: number;
  /** The embedding application's authorize/schemas/resolve rules (rules.ts), when installed. */
  rules?: RuleRunner;
  /** The store's SQL dialect (sql/). */
  dialect: ServerDialect;
  /** Answer the document rows (`rows`) instead of writing them: the caller writes them with its own statements (push.ts on PostgreSQL). */
  deferWrites?: boolean;
  /** The stored rows of (at least) every document the ops touch, read by the caller under the lock (push.ts on PostgreSQL); else they are read here. */
  states?: Map<string, DocState>;
  /** Sync rules' record of moves (sync-rules/moves.ts), when rules are installed: every document's state is read, and moves are written here. */
  moves?: MoveTracker;
}

const key = (collection: string, id: string) => `${collection}\u0000${id}`;

/**
 * JSON text of pushed values, as checkValue (push.ts) wrote it to check their size before the
 * transaction: a put stores exactly that text (with `"id":…` put first when the value lacks
 * its id), so the transaction, which holds the tenant's lock, need not write it again. Not
 * used when rules run (a hook could change the value in place).
 */
const valueJson = new WeakMap<object, string>();

/** Remembers the JSON text of a value about to be pushed (checkValue). */
export function noteValueJson(value: Record<string, unknown>, json: string): void {
  if (!("id" in value)) {
    // `{ id, ...value }` orders integer-like keys before `id`: then the text is written anew.
    for (const k in value) if (k.charCodeAt(0) <= 57) return;
  }
  valueJson.set(value, json);
}

/** The JSON text of `{ id, ...value }` from the remembered text of `value`, if any. */
function storedJson(value: JsonObject, id: string): string | undefined {
  const json = valueJson.get(value);
  if (json === undefined || value.id === id) return json;
  return json === "{}" ? `{"id":${JSON.stringify(id)}}` : `{"id":${JSON.stringify(id)},${json.slice(1)}`;
}

/**
 * Applies ops inside the caller's transaction, after the caller locked the tenant row.
 * Outcomes are computed in memory first (so a refused op of a `tx` group leaves nothing of
 * the group behind), then every changed document is written with multi-row upserts.
 * Answers one outcome per op and the new sequence counter; the caller stores the counter.
 */
export async function applyOps(
  trx: Kysely<ServerTables>,
  ctx: ApplyContext,
  ops: WriteOp[],
): Promise<{ outcomes: WriteOutcome[]; seq: number; written: WrittenDoc[]; rows?: DocWriteRow[] }> {
  const states = ctx.states ?? (await loadStates(trx, ctx, ops));
  const stored = new Set(states.keys());
  const dirty = new Map<string, WrittenDoc>();
  const outcomes: WriteOutcome[] = new Array(ops.length);
  let seq = ctx.seq;
  for (let start = 0; start < ops.length; ) {
    let end = start + 1;
    const tx = ops[start].tx;
    if (tx !== undefined) while (end < ops.length && ops[end].tx === tx) end++;
    const overlay = new Map<string, { collection: string; id: string; state: DocState }>();
    let tentative = seq;
    let refused = -1;
    for (let i = start; i < end; i++) {
      const op = ops[i];
      const k = key(op.collection, op.id);
      const current = overlay.get(k)?.state ?? states.get(k);
      const rules = op.rules ?? ctx.rules;
      const { outcome, next } = rules
        ? await rules.evaluate(op, () => (current && !current.deleted ? valueOf(current) : null), () => evaluate(op, current, ctx))
        : evaluate(op, current, ctx);
      outcomes[i] = outcome;
      if (outcome.status !== "applied") {
        refused = i;
        break;
      }
      if (next) {
        next.seq = ++tentative;
        outcome.version = next.seq;
        overlay.set(k, { collection: op.collection, id: op.id, state: next });
      }
    }
    if (refused < 0) {
      seq = tentative;
      for (const [k, doc] of overlay) {
        if (ctx.moves) {
          const earlier = dirty.get(k);
          dirty.set(k, { ...doc, before: earlier ? earlier.before : states.get(k) });
        } else dirty.set(k, doc);
        states.set(k, doc.state);
      }
    } else if (end - start > 1) {
      const which = ops[refused].opId ?? refused - start + 1;
      const message = `op ${which} of this transaction was refused (${outcomes[refused].error?.code ?? outcomes[refused].status})`;
      for (let i = start; i < end; i++) {
        if (i !== refused) outcomes[i] = { status: "rejected", error: { code: "tx_aborted", message } };
      }
    }
    start = end;
  }
  const written: WrittenDoc[] = [...dirty.values()];
  if (ctx.moves && written.length) await ctx.moves.record(trx, ctx.tenantId, ctx.now, written);
  const rows = writeRows(written, stored);
  if (ctx.deferWrites) return { outcomes, seq, written, rows };
  await ctx.dialect.upsertDocRows(trx, ctx.tenantId, ctx.now, rows);
  return { outcomes, seq, written };
}

function evaluate(op: WriteOp, current: DocState | undefined, ctx: ApplyContext): { outcome: WriteOutcome; next?: DocState } {
  const writer = op.writer !== undefined ? op.writer : ctx.writer;
  const live = current !== undefined && !current.deleted;
  if (op.baseVersion !== undefined) {
    const own = writer !== null && current?.writer === writer;
    const matches = op.baseVersion === null ? !live : current !== undefined && current.seq === op.baseVersion;
    if (!own && !matches) {
      const outcome: WriteOutcome = {
        status: "conflict",
        value: live ? valueOf(current!) : null,
        error: {
          code: "conflict",
          message: `base version ${op.baseVersion} is stale; current is ${live ? current!.seq : current ? `${current.seq} (deleted)` : "absent"}`,
        },
      };
      if (current) outcome.version = current.seq;
      return { outcome };
    }
  }
  if (op.op === "delete") {
    // Deleting what is not there changes nothing and takes no sequence number.
    if (!live) return { outcome: { status: "applied" } };
    return { outcome: { status: "applied" }, next: { seq: 0, deleted: true, writer, body: null } };
  }
  let value: JsonObject;
  let body: string | undefined;
  if (op.op === "patch") {
    if (!live) {
      return { outcome: { status: "rejected", error: { code: "not_found", message: `no document ${op.collection}/${op.id} to patch` } } };
    }
    value = mergePatch(valueOf(current!), op.value ?? {}) as JsonObject;
  } else {
    value = op.value ?? {};
    if ((op.rules ?? ctx.rules) === undefined) body = storedJson(value, op.id);
  }
  if (value.id !== op.id) value = { id: op.id, ...value };
  body ??= JSON.stringify(value);
  if (body.length > ctx.maxValueChars) {
    return {
      outcome: {
        status: "rejected",
        error: { code: "invalid", message: `document ${op.collection}/${op.id} would be ${body.length} characters of JSON; the limit is ${ctx.maxValueChars}` },
      },
    };
  }
  return { outcome: { status: "applied", value }, next: { seq: 0, deleted: false, writer, body, value } };
}

function valueOf(state: DocState): JsonObject {
  return (state.value ??= JSON.parse(state.body ?? "{}") as JsonObject);
}

/** ApplyContext.states from document rows as the store gives them back. */
export function docStates(rows: Iterable<{ collection: string; id: string; seq: number | string; deleted: number; writer: string | null; body: string | null }>): Map<string, DocState> {
  const states = new Map<string, DocState>();
  for (const r of rows) states.set(key(r.collection, r.id), { seq: num(r.seq), deleted: Number(r.deleted) === 1, writer: r.writer, body: r.body });
  return states;
}

/**
 * The current state of every document an op needs it for. On SQLite, a plain put (no base
 * version, no rules) replaces whatever is there without looking at it (the write is an
 * upsert), so a document that only plain puts touch is not read: a bulk push skips one
 * multi-row read per 500 documents. (PostgreSQL reads them all: it inserts the documents
 * that read absent without `on conflict`, docs-sql.ts.)
 */
async function loadStates(trx: Kysely<ServerTables>, ctx: ApplyContext, ops: WriteOp[]): Promise<Map<string, DocState>> {
  const needed = new Set<string>();
  for (const op of ops) {
    if (ctx.dialect.readsEveryWrite || op.op !== "put" || op.baseVersion !== undefined || op.rules || ctx.rules || ctx.moves) needed.add(key(op.collection, op.id));
  }
  const byCollection = new Map<string, Set<string>>();
  for (const op of ops) {
    if (!needed.has(key(op.collection, op.id))) continue;
    let ids = byCollection.get(op.collection);
    if (!ids) byCollection.set(op.collection, (ids = new Set()));
    ids.add(op.id);
  }
  const states = new Map<string, DocState>();
  for (const [collection, idSet] of byCollection) {
    for (const r of await ctx.dialect.selectDocStates(trx, ctx.tenantId, collection, [...idSet])) {
      states.set(key(collection, r.id), { seq: num(r.seq), deleted: Number(r.deleted) === 1, writer: r.writer, body: r.body });
    }
  }
  return states;
}

/** The rows to write for the documents a transaction changed; `stored`: the keys that were in the table. */
function writeRows(docs: { collection: string; id: string; state: DocState }[], stored: Set<string>): DocWriteRow[] {
  return docs.map(({ collection, id, state }) => ({
    collection,
    id,
    seq: state.seq,
    deleted: state.deleted ? 1 : 0,
    writer: state.writer,
    body: state.body,
    stored: stored.has(key(collection, id)),
  }));
}
