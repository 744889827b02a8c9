import { describe, expect, test } from "bun:test";
import { checkPartial, type PClientFinal, type PLine, type PServerFinal } from "../../chaos/partial-check.ts";
import { makePartialSchedule, matchesWhere } from "../../chaos/partial-schedule.ts";

/**
 * The partial-sync checker on hand-made histories: each rule fires on the violation it names
 * and stays quiet on the allowed case next to it (a checker that never fires proves nothing).
 */
const ann = (id: string, extra: Record<string, unknown> = {}) => ({ id, owner: "ann", shared: false, tag: "a", n: 1, w: "c0.0/1", ...extra });
const line = (f: number, t: string, o: Record<string, unknown>): PLine => ({ p: `c${f}.0`, f, at: 0, t, ...o });

function world(extra: { lines?: PLine[]; bobDocs?: [string, Record<string, unknown>, number][]; server?: [string, Record<string, unknown>, number][]; bobSubs?: unknown[] } = {}) {
  const server: PServerFinal = { seq: 0, docs: new Map() };
  for (const [id, v, seq] of extra.server ?? []) server.docs.set(id, { seq, deleted: false, body: JSON.stringify(v) });
  server.seq = Math.max(0, ...[...server.docs.values()].map((d) => d.seq));
  const histories = new Map<string, PLine[]>([
    ["c0.0", [line(0, "start", { clientId: "A" }), line(0, "final", { subs: [] })]],
    ["c1.0", [line(1, "start", { clientId: "B" }), line(1, "final", { subs: extra.bobSubs ?? [{ collection: "docs", where: { tag: "a" } }] }), ...(extra.lines ?? [])]],
  ]);
  const docsOf = (list: [string, Record<string, unknown>, number][]) => new Map(list.map(([id, v, ver]) => [id, { body: JSON.stringify(v), version: ver }]));
  const annHolds = [...server.docs].filter(([, d]) => !d.deleted).map(([id, d]) => [id, JSON.parse(d.body!), d.seq] as [string, Record<string, unknown>, number]);
  const clients: PClientFinal[] = [
    { file: 0, principal: "ann", docs: docsOf(annHolds), outbox: 0, conflicts: [] },
    { file: 1, principal: "bob", docs: docsOf(extra.bobDocs ?? []), outbox: 0, conflicts: [] },
  ];
  // The server's changes came from ann's pushes (one applied op each), so count holds.
  histories.get("c0.0")!.push(
    line(0, "pushreq", { clientId: "A", ops: annHolds.map(([id, v], i) => [i + 1, "put", id, v.w]) }),
    line(0, "pushres", { clientId: "A", results: annHolds.map(([, , seq], i) => [i + 1, "applied", seq, null, null]) }),
  );
  return checkPartial(histories, server, clients).map((v) => v.rule);
}

describe("partial-sync checker", () => {
  test("a consistent world passes", () => {
    expect(world({ server: [["k1", ann("k1", { shared: true, w: "c0.0/1" }), 1], ["k2", ann("k2", { w: "c0.0/2" }), 2]], bobDocs: [["k1", ann("k1", { shared: true, w: "c0.0/1" }), 1]] })).toEqual([]);
  });
  test("deny-wire: a private document of ann's in bob's pull page, event or push answer", () => {
    const priv = ann("k2");
    expect(world({ lines: [line(1, "pull", { subs: null, have: null, changes: [["docs", "k2", 2, priv, false, false]] })] })).toEqual(["deny-wire"]);
    expect(world({ lines: [line(1, "pull", { via: "event", subs: null, have: null, changes: [["docs", "k2", 2, priv, false, false]] })] })).toEqual(["deny-wire"]);
    expect(world({ lines: [line(1, "pushres", { clientId: "B", results: [[1, "rejected", null, priv, "forbidden"]] })] })).toContain("deny-wire");
    expect(world({ lines: [line(1, "docs", { path: "/v1/docs/docs/k2", values: [priv] })] })).toEqual(["deny-wire"]);
    // A leave carries no value, and a leave without one is fine.
    expect(world({ lines: [line(1, "pull", { subs: null, have: null, changes: [["docs", "k2", 2, ann("k2", { shared: true }), true, true]] })] })).toEqual(["deny-wire"]);
    expect(world({ lines: [line(1, "pull", { subs: null, have: null, changes: [["docs", "k2", 2, null, true, true]] })] })).toEqual([]);
  });
  test("subs-wire: a value outside the request's subs, and a backfill re-sending what `have` matches", () => {
    const b = ann("k3", { shared: true, tag: "b" });
    expect(world({ lines: [line(1, "pull", { subs: [{ collection: "docs", where: { tag: "a" } }], have: null, changes: [["docs", "k3", 3, b, false, false]] })] })).toEqual(["subs-wire"]);
    expect(world({ lines: [line(1, "pull", { subs: [{ collection: "docs", where: { tag: "b" } }], have: null, changes: [["docs", "k3", 3, b, false, false]] })] })).toEqual([]);
    expect(world({ lines: [line(1, "pull", { subs: [{ collection: "docs", where: { tag: "b" } }], have: [{ collection: "docs", where: { shared: true } }], changes: [["docs", "k3", 3, b, false, false]] })] })).toEqual(["subs-wire"]);
  });
  test("deny-local and subs-local: snapshots, with the file's own writes exempt", () => {
    const snap = (docs: unknown[], subs: unknown = [{ collection: "docs", where: { tag: "a" } }]) => line(1, "read", { kind: "snap", subs, pending: [], docs });
    expect(world({ lines: [snap([["k2", ann("k2"), 2]])] })).toEqual(["deny-local"]);
    expect(world({ lines: [snap([["k2", ann("k2", { w: "c1.3/9" }), null]])] })).toEqual([]);
    expect(world({ lines: [snap([["k4", ann("k4", { shared: true, tag: "c" }), 4]])] })).toEqual(["subs-local"]);
    // Taken while the subscriptions changed: not judged for subs.
    expect(world({ lines: [snap([["k4", ann("k4", { shared: true, tag: "c" }), 4]], null)] })).toEqual([]);
  });
  test("view: a document left behind, one missing, one at an old version", () => {
    const shared = ann("k1", { shared: true });
    expect(world({ server: [["k1", shared, 1]], bobDocs: [] })).toEqual(["view"]);
    expect(world({ server: [["k1", shared, 1]], bobDocs: [["k1", shared, 0]] })).toEqual(["view"]);
    expect(world({ server: [["k1", ann("k1"), 1]], bobDocs: [["k1", shared, 1]] })).toEqual(["view"]);
    // Outside bob's subscriptions: held is wrong, absent is right.
    const other = ann("k5", { shared: true, tag: "b" });
    expect(world({ server: [["k5", other, 1]], bobDocs: [["k5", other, 1]] })).toEqual(["view"]);
    expect(world({ server: [["k5", other, 1]], bobDocs: [] })).toEqual([]);
  });
  test("where matching and schedules replay from the seed", () => {
    expect(matchesWhere({ tag: "b", n: 3 }, { tag: { in: ["b", "c"] }, n: { lt: 5 } })).toBe(true);
    expect(matchesWhere({ tag: "a", n: 3 }, { tag: { ne: "a" } })).toBe(false);
    expect(matchesWhere({ n: 5 }, { n: { gte: 5 } })).toBe(true);
    expect(makePartialSchedule(42)).toEqual(makePartialSchedule(42));
    expect(makePartialSchedule(42)).not.toEqual(makePartialSchedule(43));
  });
});
