/**
 * The read rules of the checker (check.ts lists every rule): ryw, monotonic, atomic, missed,
 * cursor and lease, judged over each process's reads with the facts check() learnt.
 */
import type { CheckOptions, Facts, Line } from "./check-types.ts";
import { cursorSeq } from "../src/protocol/cursor.ts";

export function checkReads(facts: Facts, add: (rule: string, message: string) => void, options: CheckOptions): void {
  const { histories, all, ops, byToken, applied, refused, verOf, groups, tokenWriterFile, fileClient, k, ownDeletesOf, refusedToken, laterDelete } = facts;
  // Deletes each file acknowledged, with when (processes sharing a file share its clock). A
  // pending delete shows to every process of its file, and may be refused later (say, while the
  // credentials were read-only): absence then is that file's own pending write, not lost data.
  const fileDeletes = new Map<string, number[]>();
  for (const lines of histories.values()) {
    const inv = new Map<number, Line>();
    for (const l of lines) {
      if (l.t === "invoke") inv.set(l.n, l);
      if (l.t !== "ok") continue;
      const i = inv.get(l.n);
      const ids = i?.kind === "delete" ? [i.id as string] : i?.kind === "group" ? (i.members as [string, string][]).filter((m) => m[1] === "delete").map((m) => m[0]) : [];
      for (const id of ids) (fileDeletes.get(`${l.f}/${id}`) ?? fileDeletes.set(`${l.f}/${id}`, []).get(`${l.f}/${id}`)!).push(l.at);
    }
  }
  const ownDeleteBetween = (f: number, id: string, from: number, to: number) => (fileDeletes.get(`${f}/${id}`) ?? []).some((at) => at >= from && at <= to);

  // ryw + monotonic, per process in its own order
  for (const [proc, lines] of histories) {
    const invokes = new Map<number, Line>();
    const lastWrite = new Map<string, { tok: string | null; opKey: string | null; n: number; at: number }>();
    const maxSeen = new Map<string, { v: number; tok: string; n: number }>();
    for (const l of lines) {
      if (l.t === "invoke") invokes.set(l.n, l);
      else if (l.t === "ok") {
        const inv = invokes.get(l.n);
        const clientId = fileClient.get(l.f);
        if (!inv || !clientId) continue;
        if (inv.kind === "put" || inv.kind === "patch") lastWrite.set(inv.id, { tok: inv.tok, opKey: byToken.get(inv.tok) ?? null, n: l.n, at: l.at });
        else if (inv.kind === "delete") lastWrite.set(inv.id, { tok: null, opKey: l.opIds ? k(clientId, l.opIds[0][0]) : null, n: l.n, at: l.at });
        else if (inv.kind === "group") for (const [id, , tok] of inv.members as [string, string, string][]) lastWrite.set(id, { tok, opKey: byToken.get(tok) ?? null, n: l.n, at: l.at });
      } else if (l.t === "read" && (l.kind === "get" || l.kind === "snap")) {
        for (const [id, seen] of Object.entries(l.docs as Record<string, [string | null, string | null] | null>)) {
          const w = lastWrite.get(id);
          const tok = seen?.[0] ?? null;
          const v = tok ? verOf.get(tok) : undefined;
          // monotonic
          if (tok && v !== undefined) {
            const m = maxSeen.get(id);
            if (m && v < m.v) add("monotonic", `${proc} read ${id} at v${v} (${tok}) after having read v${m.v} (${m.tok})`);
            if (!m || v > m.v) maxSeen.set(id, { v, tok, n: l.n ?? -1 });
          }
          // ryw
          if (!w || (w.opKey && refused.has(w.opKey)) || refusedToken(w.tok)) continue;
          if (w.tok) {
            if (tok === w.tok) continue;
            const wv = verOf.get(w.tok);
            if (wv === undefined) continue;
            if (tok === null) {
              if (!laterDelete(id, wv) && !ownDeleteBetween(l.f, id, w.at, l.at)) add("ryw", `${proc} wrote ${id} (${w.tok}, v${wv}, op ${w.n}) then read it absent`);
            } else if (v !== undefined && v < wv) {
              add("ryw", `${proc} wrote ${id} (${w.tok}, v${wv}, op ${w.n}) then read an older value ${tok} (v${v})`);
            }
          } else if (tok !== null && w.opKey) {
            const dv = [...(applied.get(w.opKey) ?? [])][0];
            if (dv !== undefined && v !== undefined && v < dv) add("ryw", `${proc} deleted ${id} (v${dv}, op ${w.n}) then read an older value ${tok} (v${v})`);
          }
        }
      }
    }
  }

  // atomic
  if (options.atomic !== false) {
    const applied_groups: { g: string; members: { id: string; v: number }[] }[] = [];
    for (const members of groups.values()) {
      const g = members[0]?.g;
      if (!g) continue;
      const ms = members.filter((m) => m.tok && verOf.has(m.tok)).map((m) => ({ id: m.id, v: verOf.get(m.tok!)! }));
      if (ms.length === members.length && ms.length > 1) applied_groups.push({ g, members: ms });
    }
    for (const [proc, lines] of histories) {
      for (const l of lines) {
        if (l.t !== "read" || l.kind === "get") continue;
        const view = l.docs as Record<string, [string | null, string | null]>;
        for (const G of applied_groups) {
          const judged = G.members.filter((m) => {
            const tok = view[m.id]?.[0];
            if (tok && tokenWriterFile.get(tok) === l.f) return false;
            if (tok && !verOf.has(tok)) return false;
            if (!tok && ownDeletesOf(l.f).has(m.id)) return false;
            return true;
          });
          const at = (m: { id: string }) => {
            const tok = view[m.id]?.[0];
            return tok ? verOf.get(tok)! : null;
          };
          const has = judged.filter((m) => {
            const v = at(m);
            return v !== null && v >= m.v;
          });
          if (has.length === 0) continue;
          const lacks = judged.filter((m) => {
            const v = at(m);
            if (v === null) return !laterDelete(m.id, m.v);
            return v < m.v;
          });
          if (lacks.length) {
            add(
              "atomic",
              `${proc} ${l.kind} read saw part of group ${G.g}: has ${has.map((m) => `${m.id}@${at(m)}>=${m.v}`).join(", ")}; lacks ${lacks.map((m) => `${m.id} (sees ${at(m) === null ? "none" : `v${at(m)}`}, group wrote v${m.v})`).join(", ")}`,
            );
          }
        }
      }
    }
  }

  // missed: every change at or below the applied cursor is in the snapshot (or superseded)
  const changesOf = new Map<string, { v: number; tok: string | null; del: boolean }[]>();
  const noteChange = (id: string, v: number, tok: string | null, del: boolean) => {
    const list = changesOf.get(id) ?? changesOf.set(id, []).get(id)!;
    if (!list.some((c) => c.v === v)) list.push({ v, tok, del });
  };
  for (const [key, versions] of applied) {
    const info = ops.get(key);
    if (info) for (const v of versions) noteChange(info.id, v, info.tok, info.op === "delete");
  }
  for (const l of all) if (l.t === "pull") for (const [id, v, w, del] of l.changes as [string, number, string | null, boolean][]) noteChange(id, v, w, del);
  const unseenDelete = (id: string) =>
    [...ops.entries()].some(([key, info]) => info.op === "delete" && info.id === id && !applied.has(key) && !refused.has(key));
  for (const [proc, lines] of histories) {
    for (const l of lines) {
      if (l.t !== "read" || l.kind === "get" || typeof l.cursor !== "string") continue;
      const c = cursorSeq(l.cursor);
      if (c === null) continue;
      const view = l.docs as Record<string, [string | null, string | null]>;
      for (const [id, list] of changesOf) {
        let latest: { v: number; tok: string | null; del: boolean } | undefined;
        for (const ch of list) if (ch.v <= c && (!latest || ch.v > latest.v)) latest = ch;
        if (!latest) continue;
        const tok = view[id]?.[0] ?? null;
        if (tok && tokenWriterFile.get(tok) === l.f) continue;
        if (!tok && ownDeletesOf(l.f).has(id)) continue;
        if (tok === null) {
          if (!latest.del && !unseenDelete(id)) add("missed", `${proc} ${l.kind} read at cursor v1.${c} lacks ${id}, changed at v${latest.v} (${latest.tok})`);
          continue;
        }
        const v = verOf.get(tok);
        if (v !== undefined && v < latest.v) add("missed", `${proc} ${l.kind} read at cursor v1.${c} holds ${id} at v${v} (${tok}) but v${latest.v}${latest.del ? " (delete)" : ` (${latest.tok})`} is at or below the cursor`);
      }
    }
  }

  // cursor: a process never sees its file's applied cursor go back (a page applied twice, or
  // a live event applied out of order, would move it back).
  for (const [proc, lines] of histories) {
    let last: { c: number; kind: string } | undefined;
    for (const l of lines) {
      if (l.t !== "read" || typeof l.cursor !== "string") continue;
      const c = cursorSeq(l.cursor);
      if (c === null) continue;
      if (last && c < last.c) add("cursor", `${proc} ${l.kind} read at cursor v1.${c} after a ${last.kind} read at v1.${last.c}: the applied cursor went back`);
      last = { c, kind: l.kind };
    }
  }

  // lease: a finisher alone on its file must not wait out a dead predecessor's lease
  for (const [proc, lines] of histories) {
    if (!lines.some((l) => l.t === "start" && l.mode === "finish")) continue;
    const blocked = lines.filter((l) => l.t === "sync" && l.leased === false).length;
    if (blocked > 0) add("lease", `${proc} (alone on file ${lines[0]?.f}) got leased:false ${blocked} time(s): a killed process's lease blocked it`);
  }
}
