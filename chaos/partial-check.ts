/**
 * The partial-sync checker (issue 34), over the histories chaos/partial-client.ts writes and
 * the final server and client states. Rules:
 *
 *  deny-wire   no value a principal's read rule denies ever reaches it: pull pages, live
 *              events, push answers, document GETs (judged on the value's own fields, which is
 *              all the owner/shared rule reads); a leave never carries a value.
 *  subs-wire   every value a pull page or event carries matches the subscriptions the request
 *              asked for; a backfill (`have`) never re-sends what `have` already matches.
 *  deny-local  no local snapshot holds a value its rules deny, except the file's own writes
 *              (pending, or refused and not yet put back).
 *  subs-local  a snapshot taken while the subscriptions stood still holds only documents in
 *              them, except the file's own writes.
 *  view        after quiescence a client holds exactly its view of the server: every live
 *              document its rules allow and its final subscriptions match, at the server's
 *              version and value, and nothing else; its outbox is empty.
 *  once        no token is shown at two versions, no version answered for two ops.
 *  count       the server numbered at least one change per op that was not refused, and no
 *              more than were sent (nothing lost, nothing applied twice).
 *  local       every acknowledged write was pushed.
 */
import { inSubs, readable, type Sub } from "./partial-schedule.ts";

export interface PLine {
  p: string;
  f: number;
  at: number;
  t: string;
  [k: string]: any;
}

export interface PServerFinal {
  seq: number;
  docs: Map<string, { seq: number; deleted: boolean; body: string | null }>;
}

export interface PClientFinal {
  file: number;
  principal: string;
  docs: Map<string, { body: string; version: number | null }>;
  outbox: number;
  conflicts: { opId: number; kind: string }[];
}

export interface PViolation {
  rule: string;
  message: string;
}

const MAX_REPORTED = 6;

/** JSON with keys sorted, so two serializations of one value compare equal. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`;
  return JSON.stringify(v);
}

/** The file a token was written from: tokens are `c<file>.<incarnation>[f]/<n>`. */
const tokenFile = (tok: unknown): number | null => {
  const m = typeof tok === "string" ? /^c(\d+)\./.exec(tok) : null;
  return m ? Number(m[1]) : null;
};

export function checkPartial(histories: Map<string, PLine[]>, server: PServerFinal, clients: PClientFinal[]): PViolation[] {
  const out: PViolation[] = [];
  const counts = new Map<string, number>();
  const add = (rule: string, message: string) => {
    const n = (counts.get(rule) ?? 0) + 1;
    counts.set(rule, n);
    if (n <= MAX_REPORTED) out.push({ rule, message });
    else if (n === MAX_REPORTED + 1) out.push({ rule, message: "(more of the same left out)" });
  };
  const all = [...histories.values()].flat();
  const principalOf = new Map<number, string>();
  const clientIdOf = new Map<number, string>();
  for (const c of clients) principalOf.set(c.file, c.principal);
  for (const l of all) if (l.t === "start") clientIdOf.set(l.f, l.clientId);

  // deny-wire + subs-wire
  for (const l of all) {
    const me = principalOf.get(l.f);
    if (!me) continue;
    if (l.t === "pull") {
      const where = l.via === "event" ? "event" : l.have ? "backfill page" : "pull page";
      for (const [collection, id, version, value, , left] of l.changes as [string, string, number, Record<string, unknown> | null, boolean, boolean][]) {
        if (left && value !== null) add("deny-wire", `${l.p} ${where}: the leave of ${collection}/${id} v${version} carried a value`);
        if (value === null) continue;
        if (!readable(me, value)) add("deny-wire", `${l.p} (${me}) ${where} carried ${collection}/${id} v${version} ${canonical(value)}, which its rules deny`);
        if (l.subs && !inSubs(l.subs as Sub[], collection, value)) add("subs-wire", `${l.p} ${where} carried ${collection}/${id} v${version} ${canonical(value)}, outside the subs it asked for ${canonical(l.subs)}`);
        if (l.have && inSubs(l.have as Sub[], collection, value)) add("subs-wire", `${l.p} backfill page re-sent ${collection}/${id} v${version}, which its have ${canonical(l.have)} already matches`);
      }
    } else if (l.t === "pushres") {
      for (const [opId, status, version, value] of l.results as [number, string, number | null, Record<string, unknown> | null][]) {
        if (value && !readable(me, value)) add("deny-wire", `${l.p} (${me}) push answer for op ${opId} (${status}, v${version}) carried ${canonical(value)}, which its rules deny`);
      }
    } else if (l.t === "docs") {
      for (const value of l.values as (Record<string, unknown> | null)[]) {
        if (value && !readable(me, value)) add("deny-wire", `${l.p} (${me}) ${l.path} answered ${canonical(value)}, which its rules deny`);
      }
    }
  }

  // deny-local + subs-local
  for (const l of all) {
    if (l.t !== "read") continue;
    const me = principalOf.get(l.f);
    if (!me) continue;
    const pending = new Set<string>(l.pending as string[]);
    for (const [id, value] of l.docs as [string, Record<string, unknown>, number | null][]) {
      if (tokenFile(value.w) === l.f || pending.has(id)) continue;
      if (!readable(me, value)) add("deny-local", `${l.p} (${me}) ${l.kind} snapshot holds docs/${id} ${canonical(value)}, which its rules deny`);
      else if (l.subs && !inSubs(l.subs as Sub[], "docs", value)) add("subs-local", `${l.p} ${l.kind} snapshot holds docs/${id} ${canonical(value)}, outside its subscriptions ${canonical((l.subs as Sub[]).map((s) => s.where ?? "*"))}`);
    }
  }

  // view
  const finalSubs = new Map<number, Sub[]>();
  for (const l of all) if (l.t === "final") finalSubs.set(l.f, l.subs as Sub[]);
  for (const c of clients) {
    if (c.outbox !== 0) add("view", `client file ${c.file} still has ${c.outbox} queued op(s) after quiescence`);
    const subs = finalSubs.get(c.file);
    if (!subs) {
      add("view", `client file ${c.file} logged no final subscriptions (its finisher did not finish)`);
      continue;
    }
    const diffs: string[] = [];
    const expected = new Map<string, { seq: number; body: string }>();
    for (const [id, d] of server.docs) {
      if (d.deleted || d.body === null) continue;
      const v = JSON.parse(d.body) as Record<string, unknown>;
      if (readable(c.principal, v) && inSubs(subs, "docs", v)) expected.set(id, { seq: d.seq, body: canonical(v) });
    }
    for (const [id, s] of expected) {
      const mine = c.docs.get(id);
      if (!mine) diffs.push(`${id} missing (server v${s.seq} ${s.body})`);
      else if (canonical(JSON.parse(mine.body)) !== s.body || mine.version !== s.seq) diffs.push(`${id}: v${mine.version} ${canonical(JSON.parse(mine.body))} vs server v${s.seq} ${s.body}`);
    }
    for (const [id, mine] of c.docs) {
      if (expected.has(id)) continue;
      const d = server.docs.get(id);
      const why = !d || d.deleted ? "deleted on the server" : !readable(c.principal, JSON.parse(d.body!)) ? "denied by its rules" : "outside its subscriptions";
      diffs.push(`${id}: holds v${mine.version} ${canonical(JSON.parse(mine.body))}, ${why}`);
    }
    if (diffs.length) add("view", `client file ${c.file} (${c.principal}, subs ${canonical(subs.map((s) => s.where ?? "*"))}) differs from its view: ${diffs.slice(0, 6).join("; ")}${diffs.length > 6 ? ` (+${diffs.length - 6})` : ""}`);
  }

  // once, count, local
  const key = (clientId: string, opId: number) => `${clientId}#${opId}`;
  const ops = new Map<string, { op: string; id: string; tok: string | null }>();
  const byToken = new Set<string>();
  for (const l of all) {
    if (l.t !== "pushreq") continue;
    for (const [opId, op, id, tok] of l.ops as [number, string, string, string | null][]) {
      if (!ops.has(key(l.clientId, opId))) ops.set(key(l.clientId, opId), { op, id, tok });
      if (tok) byToken.add(tok);
    }
  }
  const applied = new Map<string, Set<number>>();
  const answered = new Set<string>();
  const refused = new Set<string>();
  const verOf = new Map<string, number>();
  const learn = (tok: unknown, v: number) => {
    if (typeof tok !== "string") return;
    const had = verOf.get(tok);
    if (had !== undefined && had !== v) add("once", `token ${tok} was shown at versions ${had} and ${v}: written twice`);
    verOf.set(tok, v);
  };
  for (const l of all) {
    if (l.t === "pushres") {
      for (const [opId, status, version] of l.results as [number, string, number | null][]) {
        const k = key(l.clientId, opId);
        if (status === "applied") answered.add(k);
        if (status === "applied" && version !== null) {
          (applied.get(k) ?? applied.set(k, new Set()).get(k)!).add(version);
          const tok = ops.get(k)?.tok;
          if (tok) learn(tok, version);
        }
        if (status === "conflict" || status === "rejected") refused.add(k);
      }
    } else if (l.t === "pull") {
      for (const [, , version, value] of l.changes as [string, string, number, Record<string, unknown> | null][]) if (value) learn(value.w, version);
    }
  }
  for (const c of clients) {
    const clientId = clientIdOf.get(c.file);
    if (clientId) for (const r of c.conflicts) refused.add(key(clientId, r.opId));
  }
  const claimed = new Map<number, string>();
  for (const [k, versions] of applied) {
    if (versions.size > 1) add("once", `op ${k} was applied at versions ${[...versions].join(", ")}`);
    for (const v of versions) {
      const other = claimed.get(v);
      if (other && other !== k) add("once", `version ${v} was answered for two ops: ${other} and ${k}`);
      claimed.set(v, k);
    }
  }
  let P = 0;
  let Dv = 0;
  let Du = 0;
  for (const [k, info] of ops) {
    if (refused.has(k)) continue;
    if (info.op === "delete") {
      if (applied.has(k)) Dv++;
      else if (!answered.has(k)) Du++;
    } else P++;
  }
  if (server.seq < P + Dv) add("count", `the server numbered ${server.seq} changes but ${P + Dv} ops that were not refused needed one each: ${P + Dv - server.seq} write(s) lost`);
  if (server.seq > P + Dv + Du) add("count", `the server numbered ${server.seq} changes but at most ${P + Dv + Du} ops were sent: ${server.seq - P - Dv - Du} extra application(s)`);
  for (const lines of histories.values()) {
    const invokes = new Map<number, PLine>();
    for (const l of lines) {
      if (l.t === "invoke") invokes.set(l.n, l);
      if (l.t !== "ok") continue;
      const inv = invokes.get(l.n);
      if ((inv?.kind === "put" || inv?.kind === "patch") && !byToken.has(inv.tok)) add("local", `${l.p} op ${l.n} (${inv.kind} ${inv.id}, token ${inv.tok}) was acknowledged but never pushed`);
    }
  }
  return out;
}
