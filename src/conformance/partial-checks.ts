import { CheckFailure, expectError, expectThat, type KitClient } from "./client.ts";

/**
 * Partial-sync checks (issue 34; docs/PROTOCOL.md "Subscriptions"). The `subs-*` checks run
 * against any server with the main key. The `rules-*` checks and `subs-filter`/`subs-left`
 * need two principals of ONE tenant (`--rules-key`, `--rules-key-other`: API keys or JWTs)
 * and the server running `KIT_RULES` (or rules that contain them): the owner/shared rule on
 * collection `conformance_partial`. Without those keys they are skipped.
 */

/** The rules the `rules-*` checks expect the server to run (`stowage conformance --print-rules`). */
export const KIT_RULES = `# stowage conformance: partial-sync checks (conformance_partial), everything else open
claims: sub
index conformance_partial: tag
conformance_partial read: owner == auth.sub or shared == true
conformance_partial write: owner == auth.sub
* read: true
* write: true
`;

export const PARTIAL_COLLECTION = "conformance_partial";

export interface PartialKitContext {
  a: KitClient;
  runId: string;
  /** Two principals of one tenant under KIT_RULES, with their `sub`. */
  owner?: { client: KitClient; sub: string };
  other?: { client: KitClient; sub: string };
}

type Outcome = { status: "pass"; detail: string } | { status: "skip"; detail: string };
const pass = (detail: string): Outcome => ({ status: "pass", detail });
const skip = (detail: string): Outcome => ({ status: "skip", detail });

/** A principal's `sub` as the server sees it: a JWT's `sub` claim, an API key's id (`k_<hex>`, as `stowage keys` lists it). */
export function subjectOf(token: string): string {
  const key = /^stw_([0-9a-f]{16})_/.exec(token);
  if (key) return `k_${key[1]}`;
  const parts = token.split(".");
  if (parts.length === 3) {
    try {
      const payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(parts[1].replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0))));
      if (typeof payload.sub === "string") return payload.sub;
    } catch {
      // fall through
    }
  }
  throw new CheckFailure("a --rules-key is neither a stowage API key nor a JWT with a sub claim");
}

interface Change {
  collection: string;
  id: string;
  version: number;
  value: Record<string, unknown> | null;
  deleted: boolean;
  left?: boolean;
}

/** Pulls every page after `cursor` with `subs` (and `have`); answers the changes and the last cursor. */
async function pullSubs(c: KitClient, cursor: string | undefined, subs: unknown, have?: unknown): Promise<{ changes: Change[]; cursor: string }> {
  const changes: Change[] = [];
  for (let pages = 0; pages < 10_000; pages++) {
    const q = new URLSearchParams({ limit: "100" });
    if (cursor !== undefined) q.set("cursor", cursor);
    if (subs !== undefined) q.set("subs", JSON.stringify(subs));
    if (have !== undefined) q.set("have", JSON.stringify(have));
    const page = await c.ok("GET", `/v1/pull?${q}`);
    expectThat(!page.reset, "a pull with subs after a cursor this server issued answered reset");
    expectThat(Array.isArray(page.changes) && typeof page.cursor === "string", `malformed pull page: ${JSON.stringify(page).slice(0, 200)}`);
    changes.push(...page.changes);
    cursor = page.cursor;
    if (!page.more) return { changes, cursor: cursor! };
  }
  throw new CheckFailure("pull never reached more: false");
}

/** The head of a principal's feed for `subs` (read once; cheap with an indexed view). */
async function headOf(c: KitClient, subs: unknown): Promise<string> {
  return (await pullSubs(c, undefined, subs)).cursor;
}

const put = (opId: number, collection: string, id: string, value: Record<string, unknown>) => ({ opId, collection, id, op: "put", value });
const ids = (cs: Change[]) => cs.map((c) => c.id).join(",") || "(none)";

function needRules(ctx: PartialKitContext): { owner: { client: KitClient; sub: string }; other: { client: KitClient; sub: string } } | null {
  return ctx.owner && ctx.other ? { owner: ctx.owner, other: ctx.other } : null;
}
const NEEDS = "needs --rules-key and --rules-key-other (two principals of one tenant) and a server running the kit's rules (stowage conformance --print-rules)";

export const PARTIAL_CHECKS: { name: string; what: string; run(ctx: PartialKitContext): Promise<Outcome> }[] = [
  {
    name: "subs-collection",
    what: "pull with subs=[{collection}] answers that collection's changes only, all of them",
    async run({ a, runId }) {
      const c1 = `conformance_${runId}_s1`;
      const c2 = `conformance_${runId}_s2`;
      const subs = [{ collection: c1 }];
      const head = await headOf(a, subs);
      const res = await a.push(`kitsubs${runId}`, [put(1, c1, "x1", { n: 1 }), put(2, c2, "y1", { n: 2 }), put(3, c1, "x2", { n: 3 })]);
      expectThat(res.results.every((r) => r.status === "applied"), `push: ${JSON.stringify(res.results)}`);
      const { changes } = await pullSubs(a, head, subs);
      expectThat(changes.every((c) => c.collection === c1), `subs on ${c1} answered other collections: ${JSON.stringify(changes).slice(0, 300)}`);
      expectThat(ids(changes) === "x1,x2", `subs on ${c1} answered ${ids(changes)}; expected x1,x2`);
      return pass(`2 of 3 changes, in ${c1} only`);
    },
  },
  {
    name: "subs-unindexed",
    what: "a subscription filtering on a field nobody indexed is refused: 400 unindexed_filter naming the field, on pull and on events",
    async run({ a, runId }) {
      const field = `kit_unindexed_${runId}`;
      const subs = encodeURIComponent(JSON.stringify([{ collection: `conformance_${runId}_s1`, where: { [field]: 1 } }]));
      const pull = await a.call("GET", `/v1/pull?subs=${subs}`);
      expectError(pull, 400, "pull with an unindexed where", "unindexed_filter");
      expectThat(pull.json.error.message.includes(field), `the message should name ${field}: ${pull.json.error.message}`);
      const events = await a.call("GET", `/v1/events?subs=${subs}`);
      expectError(events, 400, "events with an unindexed where", "unindexed_filter");
      return pass("400 unindexed_filter on pull and events, naming the field");
    },
  },
  {
    name: "subs-bad",
    what: "subs that is not JSON, an empty array, or more than 64 entries answers 400 with an error body",
    async run({ a, runId }) {
      expectError(await a.call("GET", "/v1/pull?subs=%7Bnot"), 400, "subs that is not JSON");
      expectError(await a.call("GET", `/v1/pull?subs=${encodeURIComponent("[]")}`), 400, "subs=[]");
      const many = Array.from({ length: 65 }, (_, i) => ({ collection: `conformance_${runId}_${i}` }));
      expectError(await a.call("GET", `/v1/pull?subs=${encodeURIComponent(JSON.stringify(many))}`), 400, "65 subscriptions");
      return pass("400 ×3");
    },
  },
  {
    name: "subs-filter",
    what: "a where subscription answers exactly the documents that match it now; a backfill with have leaves out what have matches",
    async run(ctx) {
      const r = needRules(ctx);
      if (!r) return skip(NEEDS);
      const { runId } = ctx;
      const { owner } = r;
      const [tx, ty] = [`x-${runId}`, `y-${runId}`];
      const subX = [{ collection: PARTIAL_COLLECTION, where: { tag: tx } }];
      const subY = [{ collection: PARTIAL_COLLECTION, where: { tag: ty } }];
      const head = await headOf(owner.client, subX);
      const res = await owner.client.push(`kitfilt${runId}`, [
        put(1, PARTIAL_COLLECTION, `${runId}-f1`, { owner: owner.sub, shared: false, tag: tx }),
        put(2, PARTIAL_COLLECTION, `${runId}-f2`, { owner: owner.sub, shared: false, tag: ty }),
        put(3, PARTIAL_COLLECTION, `${runId}-f3`, { owner: owner.sub, shared: true, tag: tx }),
      ]);
      expectThat(res.results.every((x) => x.status === "applied"), `owner's push under the kit's rules: ${JSON.stringify(res.results)} (is the server running them?)`);
      const got = await pullSubs(owner.client, head, subX);
      expectThat(ids(got.changes) === `${runId}-f1,${runId}-f3`, `where tag = ${tx} answered ${ids(got.changes)}; expected ${runId}-f1,${runId}-f3`);
      // Backfill of subY while holding subX: f2 only (f1, f3 match have; they are not re-sent).
      const back = await pullSubs(owner.client, undefined, subY, subX);
      expectThat(ids(back.changes.filter((c) => c.id.startsWith(runId))) === `${runId}-f2`, `backfill of tag = ${ty} with have tag = ${tx} answered ${ids(back.changes)}; expected ${runId}-f2`);
      return pass("filter and backfill exact");
    },
  },
  {
    name: "subs-left",
    what: "a document moved out of a subscription by a field change comes as { deleted: true, left: true, value: null }; a real delete as a plain tombstone",
    async run(ctx) {
      const r = needRules(ctx);
      if (!r) return skip(NEEDS);
      const { runId } = ctx;
      const { owner } = r;
      const tx = `l-${runId}`;
      const subs = [{ collection: PARTIAL_COLLECTION, where: { tag: tx } }];
      const clientId = `kitleft${runId}`;
      const [m, d] = [`${runId}-m`, `${runId}-d`];
      await owner.client.push(clientId, [put(1, PARTIAL_COLLECTION, m, { owner: owner.sub, shared: false, tag: tx }), put(2, PARTIAL_COLLECTION, d, { owner: owner.sub, shared: false, tag: tx })]);
      const { cursor } = await pullSubs(owner.client, undefined, subs);
      const res = await owner.client.push(clientId, [{ opId: 3, collection: PARTIAL_COLLECTION, id: m, op: "patch", value: { tag: `elsewhere-${runId}` } }, { opId: 4, collection: PARTIAL_COLLECTION, id: d, op: "delete" }]);
      expectThat(res.results.every((x) => x.status === "applied"), `push: ${JSON.stringify(res.results)}`);
      const { changes } = await pullSubs(owner.client, cursor, subs);
      const left = changes.find((c) => c.id === m);
      const gone = changes.find((c) => c.id === d);
      expectThat(!!left && left.deleted === true && left.left === true && left.value === null, `the moved document should be a leave without a value, got ${JSON.stringify(left ?? null)}`);
      expectThat(!!gone && gone.deleted === true && gone.left !== true && gone.value === null, `the deleted document should be a plain tombstone, got ${JSON.stringify(gone ?? null)}`);
      return pass("leave and tombstone");
    },
  },
  {
    name: "rules-pull",
    what: "under the kit's rules another principal's pull (with or without subs) carries its shared documents and never its private ones",
    async run(ctx) {
      const r = needRules(ctx);
      if (!r) return skip(NEEDS);
      const { runId } = ctx;
      const { owner, other } = r;
      const tag = `r-${runId}`;
      const subs = [{ collection: PARTIAL_COLLECTION, where: { tag } }];
      const whole = [{ collection: PARTIAL_COLLECTION }];
      const [h1, h2] = [await headOf(other.client, subs), await headOf(other.client, whole)];
      await owner.client.push(`kitrp${runId}`, [put(1, PARTIAL_COLLECTION, `${runId}-priv`, { owner: owner.sub, shared: false, tag }), put(2, PARTIAL_COLLECTION, `${runId}-pub`, { owner: owner.sub, shared: true, tag })]);
      for (const [head, s, what] of [[h1, subs, "a where subscription"], [h2, whole, "the whole collection"]] as const) {
        const { changes } = await pullSubs(other.client, head, s);
        const mine = changes.filter((c) => c.id.startsWith(runId));
        expectThat(ids(mine) === `${runId}-pub`, `the other principal's pull of ${what} answered ${ids(mine)}; expected ${runId}-pub only`);
      }
      return pass("shared seen, private never");
    },
  },
  {
    name: "rules-docs",
    what: "GET /v1/docs of a document the rules deny answers 404 (or 403) without its value; a list leaves it out",
    async run(ctx) {
      const r = needRules(ctx);
      if (!r) return skip(NEEDS);
      const { runId } = ctx;
      const { owner, other } = r;
      const priv = `${runId}-dpriv`;
      const secret = `secret-${runId}`;
      await owner.client.push(`kitrd${runId}`, [put(1, PARTIAL_COLLECTION, priv, { owner: owner.sub, shared: false, tag: `d-${runId}`, secret })]);
      expectThat((await owner.client.call("GET", `/v1/docs/${PARTIAL_COLLECTION}/${priv}`)).status === 200, "the owner cannot GET its own document");
      const one = await other.client.call("GET", `/v1/docs/${PARTIAL_COLLECTION}/${priv}`);
      expectThat((one.status === 404 || one.status === 403) && !one.text.includes(secret), `the other principal's GET answered ${one.status}: ${one.text.slice(0, 200)}`);
      const list = await other.client.call("GET", `/v1/docs/${PARTIAL_COLLECTION}?limit=1000`);
      expectThat(list.status === 200 && !list.text.includes(priv), `the other principal's list answered ${list.status} and ${list.text.includes(priv) ? "shows" : "hides"} ${priv}`);
      return pass(`GET ${one.status}, list hides it`);
    },
  },
  {
    name: "rules-push",
    what: "a write the rules refuse is answered per op rejected/forbidden without a value the writer may not read; allowed ops in the same push apply",
    async run(ctx) {
      const r = needRules(ctx);
      if (!r) return skip(NEEDS);
      const { runId } = ctx;
      const { owner, other } = r;
      const [priv, mine] = [`${runId}-wpriv`, `${runId}-wmine`];
      const secret = `secret-${runId}`;
      await owner.client.push(`kitwp${runId}`, [put(1, PARTIAL_COLLECTION, priv, { owner: owner.sub, shared: false, tag: `w-${runId}`, secret })]);
      const res = await other.client.push(`kitwo${runId}`, [
        put(1, PARTIAL_COLLECTION, priv, { owner: other.sub, shared: true, tag: "taken" }),
        put(2, PARTIAL_COLLECTION, mine, { owner: other.sub, shared: false }),
        put(3, PARTIAL_COLLECTION, `${runId}-wfake`, { owner: owner.sub, shared: false }),
      ]) as { results: { opId: number; status: string; error?: { code?: string }; value?: unknown }[] };
      const [r1, r2, r3] = res.results;
      expectThat(r1?.status === "rejected" && r1.error?.code === "forbidden", `overwriting another's private document: expected rejected/forbidden, got ${JSON.stringify(r1)}`);
      expectThat(!JSON.stringify(r1).includes(secret), `the refusal carried the private value: ${JSON.stringify(r1)}`);
      expectThat(r2?.status === "applied", `writing its own document: expected applied, got ${JSON.stringify(r2)}`);
      expectThat(r3?.status === "rejected" && r3.error?.code === "forbidden", `creating a document owned by someone else: expected rejected/forbidden, got ${JSON.stringify(r3)}`);
      const still = await owner.client.ok("GET", `/v1/docs/${PARTIAL_COLLECTION}/${priv}`);
      expectThat(still.value?.owner === owner.sub && still.value?.secret === secret, `the refused write changed the document: ${JSON.stringify(still)}`);
      return pass("2 refused (forbidden), 1 applied, nothing leaked");
    },
  },
  {
    name: "rules-leave",
    what: "a shared document made private reaches the other principal as a leave (left: true, no value)",
    async run(ctx) {
      const r = needRules(ctx);
      if (!r) return skip(NEEDS);
      const { runId } = ctx;
      const { owner, other } = r;
      const tag = `v-${runId}`;
      const subs = [{ collection: PARTIAL_COLLECTION, where: { tag } }];
      const doc = `${runId}-share`;
      await owner.client.push(`kitlv${runId}`, [put(1, PARTIAL_COLLECTION, doc, { owner: owner.sub, shared: true, tag })]);
      const seen = await pullSubs(other.client, undefined, subs);
      expectThat(ids(seen.changes) === doc, `the other principal should see the shared document first, saw ${ids(seen.changes)}`);
      await owner.client.push(`kitlv${runId}`, [{ opId: 2, collection: PARTIAL_COLLECTION, id: doc, op: "patch", value: { shared: false, secret: `secret-${runId}` } }]);
      const { changes } = await pullSubs(other.client, seen.cursor, subs);
      const c = changes.find((x) => x.id === doc);
      expectThat(!!c && c.deleted === true && c.left === true && c.value === null, `after shared → private the other principal got ${JSON.stringify(c ?? null)}; expected a leave`);
      return pass("shared → private arrives as a leave");
    },
  },
];
