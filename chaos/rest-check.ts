/**
 * The checker's rules that apply to a REST API (README "Fault testing", REST):
 *
 *  lost       every client's final value of the documents it owns (only it writes them) is on
 *             the API: one live item carrying that local id, with the same fields; a document
 *             it deleted has no live item.
 *  duplicate  no two live API items carry the same local id after repair.
 *  converge   after healing, every client's outbox is empty and its documents equal the API's
 *             live items (by carried local id, else `srv-<server id>`), fields equal.
 *  ryw        read-your-writes and pending edits kept: at every read during the run (after
 *             writes, after each sync, failed ones included), a client's own documents show
 *             its last write (guarantee 4: pulls never clobber pending edits).
 *  silent     no issue other than `repaired` is recorded (the schedules refuse nothing), and
 *             every repair names a duplicate of a document.
 */

export interface Violation {
  rule: string;
  message: string;
}

export type Fields = Record<string, unknown>;

export interface RestFinal {
  /** The API's live items: server id and the user's document (with local_id when carried). */
  live: { serverId: string; doc: Fields }[];
  clients: {
    name: string;
    /** Documents this client owns, with its last write (null: deleted). */
    own: Map<string, Fields | null>;
    docs: Map<string, Fields>;
    outbox: number;
    issues: { kind: string; id: string; message: string }[];
  }[];
}

/** A document's fields as canonical JSON (id and the carried local id left out). */
export const canon = (v: Fields | null | undefined): string => {
  if (!v) return "absent";
  const { id: _id, local_id: _l, ...rest } = v;
  return JSON.stringify(Object.fromEntries(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1))));
};

export function checkRestFinal(f: RestFinal, ryw: Violation[]): Violation[] {
  const out: Violation[] = [...ryw.slice(0, 8)];
  const byLocal = new Map<string, { serverId: string; doc: Fields }[]>();
  for (const item of f.live) {
    const key = typeof item.doc.local_id === "string" ? item.doc.local_id : `srv-${item.serverId}`;
    byLocal.set(key, [...(byLocal.get(key) ?? []), item]);
  }
  for (const [key, items] of byLocal) {
    if (items.length > 1) out.push({ rule: "duplicate", message: `${items.length} live API items carry ${key}: ${items.map((i) => i.serverId).join(", ")}` });
  }
  for (const c of f.clients) {
    for (const [id, value] of c.own) {
      const on = byLocal.get(id)?.[0]?.doc ?? null;
      if (canon(value) !== canon(on)) out.push({ rule: "lost", message: `${c.name}/${id}: last write ${canon(value)}, API has ${canon(on)}` });
    }
    if (c.outbox !== 0) out.push({ rule: "converge", message: `${c.name}: ${c.outbox} ops still queued after healing` });
    const keys = new Set([...byLocal.keys(), ...c.docs.keys()]);
    for (const k of keys) {
      const api = byLocal.get(k)?.[0]?.doc;
      const local = c.docs.get(k);
      if (canon(api) !== canon(local)) out.push({ rule: "converge", message: `${c.name}/${k}: local ${canon(local)}, API ${canon(api)}` });
    }
    for (const i of c.issues) if (i.kind !== "repaired") out.push({ rule: "silent", message: `${c.name}: unexpected ${i.kind} issue on ${i.id}: ${i.message}` });
  }
  return out.slice(0, 24);
}
