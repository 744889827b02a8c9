import { CheckFailure, expectError, expectThat, KitClient } from "./client.ts";
import { cursorSeq, formatCursor } from "../protocol/cursor.ts";

/**
 * The protocol checks `stowage conformance` runs against any server (docs/PROTOCOL.md). Each
 * writes only to its own fresh collection (`conformance_<random>`) under a fresh clientId, so
 * the kit can run against a live server; reading the tenant's change feed once to find its
 * head is the only cost proportional to the tenant's data.
 */

export interface KitContext {
  a: KitClient;
  /** A key of ANOTHER tenant (tenant isolation); absent skips that check. */
  b?: KitClient;
  /** Fresh per run: collections and client ids are derived from it. */
  runId: string;
  /** Tenant A's feed head before the run's writes (found once, by the first check that needs it). */
  headA?: string;
}

export type CheckOutcome = { status: "pass"; detail: string } | { status: "skip"; detail: string };

export interface Check {
  name: string;
  /** What the check proves, for --help and the README. */
  what: string;
  run(ctx: KitContext): Promise<CheckOutcome>;
}

const pass = (detail: string): CheckOutcome => ({ status: "pass", detail });
const skip = (detail: string): CheckOutcome => ({ status: "skip", detail });

async function headOf(ctx: KitContext): Promise<string | undefined> {
  return (ctx.headA ??= await ctx.a.head());
}

const put = (opId: number, collection: string, id: string, value: Record<string, unknown>) => ({ opId, collection, id, op: "put", value });

/** Every change of `collection` after `cursor`, page by page, checking order within and across pages. */
async function pullCollection(client: KitClient, cursor: string | undefined, limit: number, collection: string) {
  const changes: { id: string; version: number; value: any; deleted: boolean }[] = [];
  const cursors: string[] = [];
  /** Per page, the ids of this collection's changes it held. */
  const byPage: string[][] = [];
  let last = -1;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await client.pull(cursor, limit);
    expectThat(!page.reset, `pull after a cursor this server issued answered reset`);
    expectThat(Array.isArray(page.changes) && typeof page.cursor === "string" && typeof page.more === "boolean", `malformed pull page: ${JSON.stringify(page).slice(0, 200)}`);
    expectThat(page.changes.length <= limit, `a page of limit ${limit} held ${page.changes.length} changes`);
    for (const c of page.changes) {
      expectThat(Number.isSafeInteger(c.version) && c.version > last, `pull is not in commit order: version ${c.version} (${c.collection}/${c.id}) came after ${last}`);
      last = c.version;
      if (c.collection === collection) changes.push(c);
    }
    byPage.push(page.changes.filter((c: { collection: string }) => c.collection === collection).map((c: { id: string }) => c.id));
    cursors.push(page.cursor);
    cursor = page.cursor;
    if (!page.more) return { changes, cursors, cursor, pages: byPage };
  }
  throw new CheckFailure("pull never reached more: false");
}

export const CHECKS: Check[] = [
  {
    name: "health",
    what: "GET /v1/health answers { ok: true, protocol: 1 } without a key",
    async run({ a }) {
      const r = await a.call("GET", "/v1/health", { auth: null });
      expectThat(r.status === 200 && r.json?.ok === true && r.json?.protocol === 1, `GET /v1/health answered ${r.status}: ${r.text.slice(0, 200)}`);
      return pass(`protocol 1, store ${r.json.store ?? "?"}`);
    },
  },
  {
    name: "error-bodies",
    what: "401 for a missing or unknown key, 404 for an unknown route or document, 405 for a wrong method, each with { error: { code, message } }",
    async run({ a, runId }) {
      expectError(await a.call("GET", "/v1/pull", { auth: null }), 401, "pull without a key", "unauthorized");
      expectError(await a.call("GET", "/v1/pull", { auth: "Bearer stw_0000000000000000_notarealkeynotarealkeynotarealkeynotareal" }), 401, "pull with an unknown key", "unauthorized");
      expectError(await a.call("POST", "/v1/push", { auth: `Bearer ${a.key}x`, body: { clientId: `kit${runId}`, ops: [put(1, `conformance_${runId}`, "x", {})] } }), 401, "push with a wrong key", "unauthorized");
      expectError(await a.call("GET", "/v1/no-such-route"), 404, "an unknown route", "not_found");
      expectError(await a.call("GET", `/v1/docs/conformance_${runId}/missing`), 404, "a missing document", "not_found");
      expectError(await a.call("DELETE", "/v1/pull"), 405, "DELETE /v1/pull", "method_not_allowed");
      return pass("401, 404, 405 with error bodies");
    },
  },
  {
    name: "idempotent-push",
    what: "a resent push answers duplicate for every op and applies nothing again, even with changed values",
    async run({ a, runId }) {
      const collection = `conformance_${runId}_push`;
      const clientId = `kitpush${runId}`;
      const ops = [put(1, collection, "p1", { n: 1 }), put(2, collection, "p2", { n: 2 }), { opId: 3, collection, id: "p1", op: "patch", value: { m: 3 } }];
      const first = await a.push(clientId, ops);
      expectThat(first.results?.length === 3 && first.results.every((r) => r.status === "applied"), `first push: expected 3 applied, got ${JSON.stringify(first.results)}`);
      expectThat(first.lastOpId === 3, `first push: lastOpId ${first.lastOpId}, expected 3`);
      const again = await a.push(clientId, [put(1, collection, "p1", { n: 100 }), put(2, collection, "p2", { n: 200 }), { ...ops[2], value: { m: 300 } }]);
      expectThat(again.results?.every((r) => r.status === "duplicate"), `resent push: expected 3 duplicate, got ${JSON.stringify(again.results)}`);
      const p1 = await a.ok("GET", `/v1/docs/${collection}/p1`);
      const p2 = await a.ok("GET", `/v1/docs/${collection}/p2`);
      expectThat(p1.value?.n === 1 && p1.value?.m === 3 && p1.version === first.results[2].version, `p1 after the resend is ${JSON.stringify(p1)}; expected n 1, m 3 at version ${first.results[2].version}`);
      expectThat(p2.value?.n === 2 && p2.version === first.results[1].version, `p2 after the resend is ${JSON.stringify(p2)}; expected n 2 at version ${first.results[1].version}`);
      const later = await a.push(clientId, [put(4, collection, "p2", { n: 4 })]);
      expectThat(later.results[0]?.status === "applied", `a new op id after duplicates: expected applied, got ${JSON.stringify(later.results)}`);
      return pass("3 ops applied once; resend answered duplicate, values and versions unchanged");
    },
  },
  {
    name: "paged-pull",
    what: "pull is in commit order (versions strictly increasing across pages), each document once at its latest version, pages within limit, a cursor resumes exactly",
    async run(ctx) {
      const { a, runId } = ctx;
      const head = await headOf(ctx);
      const collection = `conformance_${runId}_pull`;
      const clientId = `kitpull${runId}`;
      const latest = new Map<string, number>();
      let opId = 0;
      // Writes in three pushes; d03 and d07 change again later, so commit order differs from id order.
      const batches = [
        Array.from({ length: 12 }, (_, i) => put(++opId, collection, `d${String(i).padStart(2, "0")}`, { n: i })),
        [put(++opId, collection, "d07", { n: 70 }), { opId: ++opId, collection, id: "d05", op: "delete" }],
        [put(++opId, collection, "d03", { n: 30 }), put(++opId, collection, "d12", { n: 12 })],
      ];
      for (const ops of batches) {
        const res = await a.push(clientId, ops);
        res.results.forEach((r, i) => {
          expectThat(r.status === "applied" && Number.isSafeInteger(r.version), `push: expected applied with a version, got ${JSON.stringify(r)}`);
          latest.set((ops[i] as { id: string }).id, r.version!);
        });
      }
      const { changes, cursors, cursor, pages } = await pullCollection(a, head, 4, collection);
      const seen = new Map(changes.map((c) => [c.id, c.version]));
      expectThat(changes.length === seen.size, `a document appeared twice: ${changes.map((c) => c.id).join(", ")}`);
      const expected = [...latest].sort((x, y) => x[1] - y[1]);
      const got = changes.map((c) => [c.id, c.version]);
      expectThat(JSON.stringify(got) === JSON.stringify(expected), `pull saw ${JSON.stringify(got)}; expected ${JSON.stringify(expected)} (latest version of each, in commit order)`);
      const d05 = changes.find((c) => c.id === "d05");
      expectThat(d05?.deleted === true && d05.value === null, `the delete of d05 should be a tombstone, got ${JSON.stringify(d05)}`);
      // Resuming from a middle page's cursor sees exactly the later pages' changes.
      if (cursors.length > 2) {
        const k = Math.floor(cursors.length / 2) - 1;
        const rest = (await pullCollection(a, cursors[k], 4, collection)).changes.map((c) => c.id);
        const expectedRest = pages.slice(k + 1).flat();
        expectThat(JSON.stringify(rest) === JSON.stringify(expectedRest), `resuming from page ${k + 1}'s cursor saw ${rest.join(",")}; expected ${expectedRest.join(",")}`);
      }
      const after = await pullCollection(a, cursor, 4, collection);
      expectThat(after.changes.length === 0, `pulling from the last cursor repeated ${after.changes.length} changes`);
      return pass(`${changes.length} documents over ${cursors.length} pages of 4, in commit order; cursors resume`);
    },
  },
  {
    name: "reset",
    what: "a cursor ahead of anything the server issued answers { reset: true }; the start is never reset",
    async run(ctx) {
      const head = await headOf(ctx);
      const at = cursorSeq(head);
      if (at === null) return skip(`cursor format ${JSON.stringify(head)} is not the reference v1.<seq>; cannot make one that is ahead`);
      const ahead = formatCursor(at + 1_000_000);
      const r = await ctx.a.call("GET", `/v1/pull?cursor=${ahead}`);
      expectThat(r.status === 200 && r.json?.reset === true, `a cursor ahead of the server (${ahead}) answered ${r.status}: ${r.text.slice(0, 200)}`);
      const start = await ctx.a.call("GET", "/v1/pull?limit=1");
      expectThat(start.status === 200 && start.json?.reset === undefined, `pull from the start answered ${start.status}: ${start.text.slice(0, 200)}`);
      return pass(`${ahead} → reset`);
    },
  },
  {
    name: "limits",
    what: "413 for a body over 4 MiB; 400 with an error body (issues for validation) for bad JSON, unknown fields, bad names, bad limits and cursors; 415 for a non-JSON type",
    async run({ a, runId }) {
      const collection = `conformance_${runId}_limits`;
      const clientId = `kitlimits${runId}`;
      const big = JSON.stringify({ clientId, ops: [put(1, collection, "big", { pad: "x".repeat(4 * 1024 * 1024 + 1) })] });
      expectError(await a.call("POST", "/v1/push", { body: big }), 413, "a 4 MiB+ push", "payload_too_large");
      expectError(await a.call("POST", "/v1/push", { body: "{not json" }), 400, "a push of invalid JSON");
      const unknown = await a.call("POST", "/v1/push", { body: { clientId, ops: [put(1, collection, "a", {})], extra: true } });
      expectError(unknown, 400, "a push with an unknown field");
      expectThat(Array.isArray(unknown.json.error.issues) && unknown.json.error.issues.length > 0, `a validation 400 should list issues: ${unknown.text.slice(0, 200)}`);
      expectError(await a.call("POST", "/v1/push", { body: { clientId, ops: [put(1, "../etc", "a", {})] } }), 400, "a push with a bad collection name");
      expectError(await a.call("POST", "/v1/push", { body: { clientId, ops: [put(2, collection, "a", {}), put(1, collection, "b", {})] } }), 400, "op ids not increasing");
      expectError(await a.call("POST", "/v1/push", { body: { clientId, ops: [] } }), 400, "a push with no ops");
      expectError(await a.call("GET", "/v1/pull?limit=0"), 400, "pull limit=0");
      expectError(await a.call("GET", "/v1/pull?limit=1001"), 400, "pull limit=1001");
      expectError(await a.call("GET", "/v1/pull?cursor=%%garbage"), 400, "an unparseable cursor");
      expectError(await a.call("GET", "/v1/pull?what=1"), 400, "an unknown query parameter");
      expectError(await a.call("POST", "/v1/push", { body: "clientId=x", headers: { "content-type": "text/plain" } }), 415, "a text/plain push", "unsupported_media_type");
      const r = await a.call("GET", `/v1/docs/${collection}/a`);
      expectThat(r.status === 404, `refused pushes must change nothing, but ${collection}/a exists`);
      return pass("413, 400 ×9, 415; nothing written");
    },
  },
  {
    name: "tenant-isolation",
    what: "with --key-b (another tenant): neither tenant sees the other's documents or changes, and op ids are per tenant",
    async run(ctx) {
      const { a, b, runId } = ctx;
      if (!b) return skip("needs --key-b, a key of another tenant");
      const headA = await headOf(ctx);
      const headB = await b.head();
      const collection = `conformance_${runId}_iso`;
      const clientId = `kitiso${runId}`;
      const ra = await a.push(clientId, [put(1, collection, "same", { owner: "a" }), put(2, collection, "only-a", { owner: "a" })]);
      expectThat(ra.results.every((r) => r.status === "applied"), `tenant A push: ${JSON.stringify(ra.results)}`);
      // Same clientId and op id under the other tenant: a different client, so applied, not duplicate.
      const rb = await b.push(clientId, [put(1, collection, "same", { owner: "b" })]);
      expectThat(rb.results[0]?.status === "applied", `tenant B's op 1 under the same clientId answered ${JSON.stringify(rb.results)}; op ids are per tenant`);
      const aSame = await a.ok("GET", `/v1/docs/${collection}/same`);
      const bSame = await b.ok("GET", `/v1/docs/${collection}/same`);
      expectThat(aSame.value?.owner === "a" && bSame.value?.owner === "b", `each tenant must see its own "same": A sees ${JSON.stringify(aSame.value)}, B sees ${JSON.stringify(bSame.value)}`);
      const bOnlyA = await b.call("GET", `/v1/docs/${collection}/only-a`);
      expectThat(bOnlyA.status === 404, `tenant B read tenant A's document (${bOnlyA.status})`);
      const list = await b.ok("GET", `/v1/docs/${collection}`);
      expectThat(list.items?.length === 1 && list.items[0].owner === "b", `tenant B's list shows ${JSON.stringify(list.items)}`);
      const pa = await pullCollection(a, headA, 100, collection);
      const pb = await pullCollection(b, headB, 100, collection);
      expectThat(pa.changes.every((c) => c.value?.owner === "a") && pa.changes.length === 2, `tenant A pulled ${JSON.stringify(pa.changes)}`);
      expectThat(pb.changes.length === 1 && pb.changes[0].value?.owner === "b", `tenant B pulled ${JSON.stringify(pb.changes)}`);
      return pass("documents, lists, pulls and op ids kept apart");
    },
  },
];
