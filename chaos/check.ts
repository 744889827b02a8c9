/**
 * The history checker. Input: every process's history (chaos/client.ts writes it), the
 * server's final state read from its database, and every client file's final state.
 * Rules (README "Fault testing" states them for users):
 *
 *  local      every acknowledged write was sent to the server (its op appears in a push request).
 *  once       no (clientId, opId) is answered `applied` with two different versions, and no
 *             version is claimed by two ops.
 *  count      every applied put/patch takes exactly one sequence number, a delete one or none:
 *             P + Dv <= final tenant seq <= P + Dv + Du, where P counts the put/patch ops
 *             sent and not refused, Dv the deletes seen applied with a version and Du the
 *             deletes nobody saw answered `applied` (a `duplicate` answer does not say whether
 *             the first application took a number). Below: an acknowledged write was lost. Above:
 *             an op was applied twice.
 *  recorded   every op the server refused (conflict, rejected) is in its client's issue list.
 *  group      the server applied each transaction group whole: never some members applied
 *             and others refused.
 *  converge   after quiescence every client's outbox is empty and its documents equal the
 *             server's live documents: same ids, same version, same body bytes (the server
 *             body as the client serializes it, so PostgreSQL's jsonb spacing does not count).
 *  ryw        read-your-writes, per process: after a write it acknowledged (and the server did
 *             not refuse), a read of that document shows the write or a change the server
 *             ordered after it (a higher version), or absence after a later delete (also
 *             a delete its own file acknowledged meanwhile, pending then, even if refused later).
 *  monotonic  per process and document, the versions its reads show never go down.
 *  atomic     for every group G the server applied (member m at version v_m) and every
 *             snapshot S (one local read transaction over all documents: explicit reads,
 *             reads inside `pulled` events, the final state): if S holds some member a at a
 *             version >= v_a, it holds every member b at a version >= v_b, or b absent after
 *             a delete ordered after v_b. A member whose value in S was written by the
 *             viewer's own database file (its pending writes win, guarantee 4) is left out.
 *             So later overwrites of members are allowed; a snapshot that is not a cut of the
 *             server's order at group boundaries is not.
 *  missed     no missed changes (guarantee 3): a snapshot taken with applied pull cursor c holds
 *             every document at least at its latest change numbered <= c (absent if that change
 *             was a delete), leaving out documents the viewer's own file wrote. Changes are
 *             known from push answers and pull pages; a delete nobody saw answered excuses absence.
 *  cursor     per process, the applied pull cursor its reads show never goes back (live events
 *             and pull pages are applied in sequence order only, each once).
 *  lingering  a refused write never stays visible once resolved (guarantee 12): a snapshot taken
 *             while no document waits for its server value (`_stowage_refresh` empty, read in
 *             the same transaction) shows no value written by an op its file had recorded as
 *             refused by then. A sync that reports nothing unresolved leaves such a state.
 *  lease      a finishing process alone on its file never gets `leased: false` after its
 *             predecessor was killed (a dead process's lease must not block syncing).
 * A version of a token is learnt wherever the server showed it: push answers, pull pages,
 * document GETs, the final server state. Reads whose versions are unknown are not judged.
 */

import { checkReads } from "./check-reads.ts";
import type { CheckOptions, ClientFinal, Facts, Line, OpInfo, ServerFinal, Violation } from "./check-types.ts";

export type { CheckOptions, ClientFinal, Facts, Line, OpInfo, ServerFinal, Violation };

const MAX_REPORTED = 8;

export function check(histories: Map<string, Line[]>, server: ServerFinal, clients: ClientFinal[], options: CheckOptions = {}): Violation[] {
  const out: Violation[] = [];
  const add = (rule: string, message: string) => {
    if (out.filter((v) => v.rule === rule).length < MAX_REPORTED) out.push({ rule, message });
    else if (out.filter((v) => v.rule === rule).length === MAX_REPORTED) out.push({ rule, message: "(more of the same left out)" });
  };
  const all = [...histories.values()].flat();
  const fileClient = new Map<number, string>();
  for (const l of all) if (l.t === "start" && l.clientId) fileClient.set(l.f, l.clientId);
  const fileOf = new Map<string, number>();
  for (const [f, c] of fileClient) fileOf.set(c, f);
  const k = (clientId: string, opId: number) => `${clientId}#${opId}`;

  // What was sent, what was answered, which versions each token and op got.
  const ops = new Map<string, OpInfo>();
  const byToken = new Map<string, string>();
  const applied = new Map<string, Set<number>>();
  /** Ops answered `applied` (with or without a version); `duplicate` says nothing about how. */
  const answered = new Set<string>();
  const refusedSeen = new Set<string>();
  const verOf = new Map<string, number>();
  const deletes = new Map<string, { version: number | null }[]>(); // doc id -> known delete versions
  const deleteVersions = (id: string) => deletes.get(id) ?? deletes.set(id, []).get(id)!;
  const tokenWriterFile = new Map<string, number>();
  const learn = (tok: string | null, v: number) => {
    if (!tok) return;
    const had = verOf.get(tok);
    if (had !== undefined && had !== v) add("once", `token ${tok} was shown at versions ${had} and ${v}: written twice`);
    verOf.set(tok, v);
  };
  for (const l of all) {
    if (l.t === "pushreq") {
      for (const [opId, op, id, tok, tx, g] of l.ops as [number, string, string, string | null, number | null, string | null][]) {
        const key = k(l.clientId, opId);
        if (!ops.has(key)) ops.set(key, { clientId: l.clientId, opId, op, id, tok, tx, g });
        if (tok) {
          byToken.set(tok, key);
          tokenWriterFile.set(tok, l.f);
        }
      }
    }
  }
  for (const l of all) {
    if (l.t === "pushres") {
      for (const [opId, status, version] of l.results as [number, string, number | null][]) {
        const key = k(l.clientId, opId);
        const info = ops.get(key);
        if (status === "applied") answered.add(key);
        if (status === "applied" && version !== null) {
          const set = applied.get(key) ?? applied.set(key, new Set()).get(key)!;
          set.add(version);
          if (info?.tok) learn(info.tok, version);
          if (info?.op === "delete") deleteVersions(info.id).push({ version });
        }
        if (status === "conflict" || status === "rejected") refusedSeen.add(key);
      }
    } else if (l.t === "pull") {
      for (const [id, version, w, deleted] of l.changes as [string, number, string | null, boolean][]) {
        if (deleted) deleteVersions(id).push({ version });
        else learn(w, version);
      }
    } else if (l.t === "getdoc") {
      learn(l.w, l.version);
    }
  }
  for (const [id, d] of server.docs) {
    if (d.deleted) deleteVersions(id).push({ version: d.seq });
    else if (d.body) learn((JSON.parse(d.body) as { w?: string }).w ?? null, d.seq);
  }

  // once
  const claimed = new Map<number, string>();
  for (const [key, versions] of applied) {
    if (versions.size > 1) add("once", `op ${key} was applied at versions ${[...versions].join(", ")}`);
    for (const v of versions) {
      const other = claimed.get(v);
      if (other && other !== key) add("once", `version ${v} was answered for two ops: ${other} and ${key}`);
      claimed.set(v, key);
    }
  }

  // recorded
  const refused = new Set<string>();
  for (const c of clients) {
    const clientId = fileClient.get(c.file);
    if (!clientId) continue;
    for (const r of c.conflicts) refused.add(k(clientId, r.opId));
  }
  for (const key of refusedSeen) {
    if (!refused.has(key)) add("recorded", `op ${key} was refused by the server but its client has no record of it`);
  }
  for (const key of refusedSeen) refused.add(key);

  // local: acknowledged ops reached the server
  for (const [, lines] of histories) {
    const invokes = new Map<number, Line>();
    for (const l of lines) {
      if (l.t === "invoke") invokes.set(l.n, l);
      if (l.t !== "ok") continue;
      const inv = invokes.get(l.n);
      const clientId = fileClient.get(l.f);
      if (!inv || !clientId) continue;
      if (l.opIds) {
        for (const [opId] of l.opIds as [number][]) if (!ops.has(k(clientId, opId))) add("local", `${l.p} op ${l.n} (${inv.kind}) was acknowledged as op ${opId} but never pushed`);
      } else if (inv.kind === "put" || inv.kind === "patch") {
        if (!byToken.has(inv.tok)) add("local", `${l.p} op ${l.n} (${inv.kind} ${inv.id}, token ${inv.tok}) was acknowledged but never pushed`);
      }
    }
  }

  // count
  let P = 0;
  let Dv = 0;
  let Du = 0;
  const unproven: string[] = [];
  for (const [key, info] of ops) {
    if (refused.has(key)) continue;
    if (info.op === "delete") {
      if (applied.has(key)) Dv++;
      else if (!answered.has(key)) Du++;
    } else {
      P++;
      if (!(info.tok && verOf.has(info.tok)) && !applied.has(key)) unproven.push(`${key} (${info.op} ${info.id} ${info.tok})`);
    }
  }
  if (server.seq < P + Dv) {
    add("count", `the server numbered ${server.seq} changes but ${P + Dv} sent ops needed one each: ${P + Dv - server.seq} acknowledged write(s) lost. Never seen applied: ${unproven.slice(0, 12).join(", ") || "(none identifiable)"}`);
  }
  if (server.seq > P + Dv + Du) {
    add("count", `the server numbered ${server.seq} changes but at most ${P + Dv + Du} ops were sent: ${server.seq - P - Dv - Du} extra application(s) (an op applied twice)`);
  }

  // group: all-or-nothing on the server
  const groups = new Map<string, OpInfo[]>();
  for (const info of ops.values()) {
    if (info.tx === null) continue;
    const gk = k(info.clientId, info.tx);
    (groups.get(gk) ?? groups.set(gk, []).get(gk)!).push(info);
  }
  for (const [gk, members] of groups) {
    const done = members.filter((m) => applied.has(k(m.clientId, m.opId)) || (m.tok !== null && verOf.has(m.tok)));
    const no = members.filter((m) => refused.has(k(m.clientId, m.opId)));
    if (done.length && no.length) {
      add("group", `group ${gk} was split on the server: ${done.map((m) => `${m.id}(op ${m.opId}) applied`).join(", ")}; ${no.map((m) => `${m.id}(op ${m.opId}) refused`).join(", ")}`);
    }
  }

  // converge
  const live = new Map<string, { seq: number; body: string }>();
  for (const [id, d] of server.docs) if (!d.deleted && d.body !== null) live.set(id, { seq: d.seq, body: JSON.stringify(JSON.parse(d.body)) });
  for (const c of clients) {
    if (c.outbox !== 0) add("converge", `client file ${c.file} still has ${c.outbox} queued op(s) after quiescence`);
    const diffs: string[] = [];
    for (const [id, s] of live) {
      const mine = c.docs.get(id);
      if (!mine) diffs.push(`${id}: missing (server v${s.seq} ${s.body})`);
      else if (mine.body !== s.body || mine.version !== s.seq) diffs.push(`${id}: v${mine.version} ${mine.body} vs server v${s.seq} ${s.body}`);
    }
    for (const [id, mine] of c.docs) if (!live.has(id)) diffs.push(`${id}: v${mine.version} ${mine.body} but the server has none`);
    if (diffs.length) add("converge", `client file ${c.file} differs from the server: ${diffs.slice(0, 6).join("; ")}${diffs.length > 6 ? ` (+${diffs.length - 6})` : ""}`);
  }

  // lingering
  for (const l of all) {
    if (l.t !== "read" || !Array.isArray(l.refusedOps) || l.refusedOps.length === 0) continue;
    const clientId = fileClient.get(l.f);
    if (!clientId) continue;
    const refusedHere = new Set<number>(l.refusedOps as number[]);
    for (const [id, [tok]] of Object.entries(l.docs as Record<string, [string | null, string | null]>)) {
      const key = tok ? byToken.get(tok) : undefined;
      const info = key ? ops.get(key) : undefined;
      if (info && info.clientId === clientId && refusedHere.has(info.opId)) {
        add("lingering", `${l.p} ${l.kind} read shows ${id} = ${tok}, written by op ${key} its file had recorded as refused, with nothing unresolved`);
      }
    }
  }

  const ownDeletesMap = new Map<number, Set<string>>();
  for (const info of ops.values()) {
    if (info.op !== "delete") continue;
    const f = fileOf.get(info.clientId);
    if (f !== undefined) (ownDeletesMap.get(f) ?? ownDeletesMap.set(f, new Set()).get(f)!).add(info.id);
  }
  const ownDeletesOf = (f: number) => ownDeletesMap.get(f) ?? new Set<string>();
  const refusedToken = (tok: string | null) => {
    if (!tok) return false;
    const key = byToken.get(tok);
    return key !== undefined && refused.has(key);
  };
  const laterDelete = (id: string, after: number) => {
    for (const d of deletes.get(id) ?? []) if (d.version === null || d.version > after) return true;
    // A delete whose answer nobody saw and whose tombstone was purged leaves no version.
    for (const info of ops.values()) if (info.op === "delete" && info.id === id && !applied.has(k(info.clientId, info.opId)) && !refused.has(k(info.clientId, info.opId))) return true;
    return false;
  };

  checkReads(
    { histories, all, ops, byToken, applied, refused, verOf, groups, tokenWriterFile, fileClient, k, ownDeletesOf, refusedToken, laterDelete },
    add,
    options,
  );
  return out;
}
