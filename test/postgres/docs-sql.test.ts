import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTenant, openServerStore, type ServerStore } from "../../src/server/index.ts";
import type { DocWriteRow } from "../../src/server/docs-sql.ts";
import { pgAvailable, pgQuery, pgTestAdapter } from "../helpers/pg.ts";
import { POSTGRES } from "../../src/server/sql/index.ts";

/**
 * The push's document statements build their parameters by hand (docs-sql.ts says why): JSON
 * arrays for the read and for the writes. What goes in comes back exactly.
 */
const run = await pgAvailable("PostgreSQL document statements");

describe.skipIf(!run)("PostgreSQL document statements", () => {
  const pg = pgTestAdapter();
  let store: ServerStore;
  let tenant: string;

  beforeAll(async () => {
    store = await openServerStore({ adapter: pg.adapter });
    tenant = (await createTenant(store, "docs-sql")).id;
  });
  afterAll(async () => {
    await store?.close();
    await pg.drop();
  });

  test("new and stored rows, live and tombstones, are written and read back exactly", async () => {
    const body = (id: string) => JSON.stringify({ id, q: 'say "hi"', b: "back\\slash", u: "ü€𝄞", n: [1, { x: null }] });
    const row = (id: string, seq: number, deleted: 0 | 1, stored: boolean): DocWriteRow => ({
      collection: "docs",
      id,
      seq,
      deleted,
      writer: deleted ? null : "writer-1",
      body: deleted ? null : body(id),
      stored,
    });
    await store.db.transaction().execute((trx) => POSTGRES.upsertDocRows(trx, tenant, 5, [row("a", 1, 0, false), row("b", 2, 0, false), row("c", 3, 1, false)]));
    // a replaced, b deleted, c (a tombstone) brought back, d new: stored and new rows in one call.
    await store.db.transaction().execute((trx) =>
      POSTGRES.upsertDocRows(trx, tenant, 6, [row("a", 4, 0, true), row("b", 5, 1, true), row("c", 6, 0, true), row("d", 7, 0, false)]),
    );
    const states = await POSTGRES.selectDocStates(store.db, tenant, "docs", ["a", "b", "c", "d", "e"]);
    const byId = Object.fromEntries(states.map((s) => [s.id, { seq: Number(s.seq), deleted: Number(s.deleted), writer: s.writer, body: s.body && JSON.parse(s.body) }]));
    expect(byId).toEqual({
      a: { seq: 4, deleted: 0, writer: "writer-1", body: JSON.parse(body("a")) },
      b: { seq: 5, deleted: 1, writer: null, body: null },
      c: { seq: 6, deleted: 0, writer: "writer-1", body: JSON.parse(body("c")) },
      d: { seq: 7, deleted: 0, writer: "writer-1", body: JSON.parse(body("d")) },
    });
    const [sqlNull] = await pgQuery<{ n: number }>("select count(*)::int as n from stowage_docs where body is null", [], pg.schema);
    expect(sqlNull.n).toBe(1);
  });
});
