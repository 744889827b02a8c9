import { mergePatch, type JsonObject } from "../json.ts";
import { all, run, type Executor } from "./sql.ts";

/** A document's state on the server: `value` null when deleted or absent. */
export interface ServerDoc {
  /** Collection of the document. */
  collection: string;
  /** Document id. */
  id: string;
  /** Server value; null when deleted or absent. */
  value: JsonObject | null;
  /** Server version; null when unknown. */
  version: number | null;
}

interface PendingRow {
  op: string;
  body: string | null;
}

/**
 * Guarantee 4: sets each document to its server state with the still-pending local ops folded
 * on top, and records the server version. Runs inside the caller's transaction. Documents
 * whose pending ops are all gone simply take the server value.
 */
export async function rebaseDocs(db: Executor, docs: ServerDoc[]): Promise<void> {
  for (let i = 0; i < docs.length; i += 300) {
    const chunk = docs.slice(i, i + 300);
    const params: string[] = [];
    for (const d of chunk) params.push(d.collection, d.id);
    // One outbox scan per chunk (the outbox has no (collection, id) index on purpose).
    const pending = await all<PendingRow & { collection: string; id: string }>(
      db,
      `select collection, id, op, body from _stowage_outbox
       where (collection, id) in (values ${chunk.map(() => "(?, ?)").join(",")}) order by op_id`,
      params,
    );
    const byDoc = new Map<string, PendingRow[]>();
    for (const p of pending) {
      const key = `${p.collection}\u0000${p.id}`;
      const list = byDoc.get(key);
      if (list) list.push(p);
      else byDoc.set(key, [p]);
    }
    for (const doc of chunk) {
      let value: JsonObject | null = doc.value;
      for (const p of byDoc.get(`${doc.collection}\u0000${doc.id}`) ?? []) value = foldOp(value, doc.id, p);
      await writeDoc(db, doc, value);
    }
  }
}

async function writeDoc(db: Executor, doc: ServerDoc, value: JsonObject | null): Promise<void> {
  if (value === null) {
    await run(db, "delete from _stowage_docs where collection = ? and id = ?", [doc.collection, doc.id]);
    return;
  }
  await run(
    db,
    `insert into _stowage_docs (collection, id, body, version) values (?, ?, ?, ?)
     on conflict (collection, id) do update set body = excluded.body,
       version = nullif(max(coalesce(_stowage_docs.version, 0), coalesce(excluded.version, 0)), 0)`,
    [doc.collection, doc.id, JSON.stringify(value), doc.version],
  );
}

/** One pending op applied to a value, as the server will apply it. */
export function foldOp(value: JsonObject | null, id: string, p: PendingRow): JsonObject | null {
  if (p.op === "delete") return null;
  const body = JSON.parse(p.body ?? "{}") as JsonObject;
  // A patch of a missing document will be refused by the server; locally it keeps the
  // patched fields visible until that answer arrives (then the record explains it).
  const next = p.op === "put" ? body : (mergePatch(value ?? {}, body) as JsonObject);
  return { ...next, id };
}
