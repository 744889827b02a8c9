/**
 * Anchors never miss: for random documents (mixed types in every field) and random
 * subscriptions (eq, ne, in, gt, gte, lt, lte), a pull through the view answers exactly the
 * documents an in-memory test of the rules and the subscription keeps. Deterministic seeds.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import type { StowageAdapter } from "../../src/adapter.ts";
import { compileWhere } from "../../src/server/filter.ts";
import { call, startEmbedded, type EmbeddedServer } from "../server/embed-helpers.ts";

const SECRET = "anchors-fuzz-secret-long-enough-for-hs256";
/** Rules that anchor on their own equalities, and rules that leave the anchors to the subscriptions. */
const RULE_SETS: [string, string, (d: Record<string, unknown>) => boolean][] = [
  [
    "owner, shared or team with n >= 3",
    `claims: sub, team
index docs: n, tag, owner, shared
docs read: owner == auth.sub or shared == true or (team == auth.team and n >= 3)
* read: true
* write: true
`,
    (d) => {
      const same = (a: unknown, b: unknown) => (a === undefined ? null : a) === b;
      return same(d.owner, "ann") || same(d.shared, true) || (same(d.team, "red") && typeof d.n === "number" && d.n >= 3);
    },
  ],
  ["everything", "claims: sub, team\nindex docs: n, tag, owner, shared\n* read: true\n* write: true\n", () => true],
];

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALUES = [0, 1, 2, 3, 3.5, 7, -1, "a", "b", "3", "", true, false, null, "ann", "bob"];

export function anchorsFuzz(store: string, adapter: () => { adapter: StowageAdapter; drop?: () => Promise<void> } | undefined): void {
  for (const [name, rules, readable] of RULE_SETS) fuzz(store, name, rules, readable, adapter);
}

function fuzz(store: string, name: string, RULES: string, readable: (d: Record<string, unknown>) => boolean, adapter: () => { adapter: StowageAdapter; drop?: () => Promise<void> } | undefined): void {
  describe(`anchors never miss a document of the view [${store}, rules: ${name}]`, () => {
    let s: EmbeddedServer;
    let drop: (() => Promise<void>) | undefined;
    let token: string;
    const docs = new Map<string, Record<string, unknown>>();
    beforeAll(async () => {
      const a = adapter();
      drop = a?.drop;
      s = await startEmbedded({ jwt: { secret: SECRET, tenantClaim: "org" }, rules: RULES }, a?.adapter);
      await s.handler.ready();
      token = await new SignJWT({ sub: "ann", team: "red", org: `fuzz-${Math.random().toString(36).slice(2, 8)}` })
        .setProtectedHeader({ alg: "HS256" })
        .setExpirationTime("10m")
        .sign(new TextEncoder().encode(SECRET));
      const r = rng(7);
      const pick = () => VALUES[Math.floor(r() * VALUES.length)];
      const ops = [];
      for (let i = 0; i < 300; i++) {
        const doc: Record<string, unknown> = {};
        for (const f of ["n", "tag", "owner", "shared", "team"]) if (r() < 0.8) doc[f] = f === "owner" ? (r() < 0.3 ? "ann" : pick()) : f === "team" ? (r() < 0.5 ? "red" : pick()) : pick();
        docs.set(`d${i}`, { id: `d${i}`, ...doc });
        ops.push({ opId: i + 1, collection: "docs", id: `d${i}`, op: "put", value: doc });
      }
      const pushed = await call(s.url, token, "POST", "/v1/push", { clientId: "fuzz-client-1", ops });
      expect(pushed.status).toBe(200);
    });
    afterAll(async () => {
      await s.stop();
      await drop?.();
    });

    test("200 random subscriptions", async () => {
      const r = rng(11);
      const fields = ["n", "tag", "owner", "shared"];
      const pick = () => VALUES[Math.floor(r() * VALUES.length)];
      for (let i = 0; i < 200; i++) {
        const where: Record<string, unknown> = {};
        const k = 1 + Math.floor(r() * 2);
        for (let j = 0; j < k; j++) {
          const f = fields[Math.floor(r() * fields.length)];
          const op = ["eq", "ne", "in", "gt", "gte", "lt", "lte"][Math.floor(r() * 7)];
          const v = pick();
          if (op === "in") where[f] = { in: [v, pick()] };
          else if (v === null && op !== "eq" && op !== "ne") where[f] = { eq: null };
          else where[f] = { ...(typeof where[f] === "object" && where[f] !== null ? (where[f] as object) : {}), [op]: v };
        }
        const match = compileWhere(JSON.stringify(where));
        const expected = [...docs.values()].filter((d) => readable(d) && match(d as never)).map((d) => d.id as string).sort();
        const got: string[] = [];
        let cursor = "";
        for (let p = 0; p < 100; p++) {
          const res = await call(s.url, token, "GET", `/v1/pull?limit=50&cursor=${cursor}&subs=${encodeURIComponent(JSON.stringify([{ collection: "docs", where }]))}`);
          expect(res.status).toBe(200);
          got.push(...res.json.changes.map((c: { id: string }) => c.id));
          cursor = res.json.cursor;
          if (!res.json.more) break;
        }
        expect([JSON.stringify(where), got.sort()]).toEqual([JSON.stringify(where), expected]);
      }
    }, 120_000);
  });
}
