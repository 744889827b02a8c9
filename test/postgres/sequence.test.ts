import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pg from "pg";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { lockTenant } from "../../src/server/dialect-sql.ts";
import { createTenant, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { pullPage } from "../../src/server/pull.ts";
import { push } from "../../src/server/push.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../helpers/pg.ts";
import { POSTGRES } from "../../src/server/sql/index.ts";

/**
 * The interleaving that loses changes, played step by step: writer A takes number 1 and is
 * slow to commit, writer B takes number 2 and commits, a reader pulls. With `nextval()` the
 * reader's cursor passes 1 before A commits, and 1 is never pulled. With the tenant's counter
 * row locked inside the write transaction (what the server does), B cannot even take its
 * number until A has committed.
 */
const run = await pgAvailable("PostgreSQL sequence-order test");
const LIMITS = { maxValueChars: 1 << 20, maxValueDepth: 64 };

describe.skipIf(!run)("commit-ordered sequence numbers on PostgreSQL", () => {
  const schema = newSchemaName();
  let store: ServerStore;
  const clients: pg.Client[] = [];

  const connect = async () => {
    const c = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await c.connect();
    clients.push(c);
    return c;
  };
  const waitingForLock = async () => {
    for (;;) {
      const rows = await pgQuery<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = 'stowage' and wait_event_type = 'Lock'");
      if (rows[0].n > 0) return;
      await Bun.sleep(5);
    }
  };

  beforeAll(async () => {
    store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 4 } }) });
  });

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await store?.close();
    await dropSchema(schema);
  });

  test("control: numbers from nextval() commit out of order and a reader's cursor skips one for good", async () => {
    await pgQuery("create sequence naive_seq; create table naive (seq bigint primary key)", [], schema);
    const [a, b, reader] = [await connect(), await connect(), await connect()];
    await a.query("begin");
    await a.query("insert into naive values (nextval('naive_seq'))"); // takes 1, not committed
    await b.query("begin");
    await b.query("insert into naive values (nextval('naive_seq'))"); // takes 2
    await b.query("commit");
    const first = await reader.query("select seq from naive where seq > 0 order by seq");
    expect(first.rows.map((r) => Number(r.seq))).toEqual([2]);
    const cursor = 2;
    await a.query("commit");
    const next = await reader.query("select seq from naive where seq > $1 order by seq", [cursor]);
    expect(next.rows).toEqual([]); // 1 is committed now, but behind the cursor: missed
    const all = await reader.query("select seq from naive order by seq");
    expect(all.rows.map((r) => Number(r.seq))).toEqual([1, 2]);
  });

  test("the server's locked counter row: B waits for A's commit, so the reader sees 1 before 2", async () => {
    const tenant = await createTenant(store, "ordered");
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    // Writer A: allocates 1 under the lock, as push does, then stalls before COMMIT.
    const writerA = store.db.transaction().execute(async (trx) => {
      const row = await lockTenant(trx, POSTGRES, tenant.id);
      const seq = row!.seq + 1;
      await trx.insertInto("stowage_docs").values({ tenant_id: tenant.id, collection: "c", id: "from-a", seq, deleted: 0, writer: null, body: "{}", updated_at: 0 }).execute();
      await trx.updateTable("stowage_tenants").set({ seq }).where("id", "=", tenant.id).execute();
      locked();
      await held;
      return seq;
    });
    await isLocked;
    // Writer B: a real push; it blocks on the tenant row before allocating anything.
    const writerB = push(store, tenant.id, { clientId: "writer-b-01", ops: [{ opId: 1, collection: "c", id: "from-b", op: "put", value: {} }] }, LIMITS, Date.now());
    await waitingForLock();
    const early = JSON.parse(await pullPage(store, tenant.id, 0, 100));
    expect(early).toEqual({ changes: [], cursor: "v1.0", more: false });
    release();
    expect(await writerA).toBe(1);
    const b = await writerB;
    expect(b.results).toEqual([{ opId: 1, status: "applied", version: 2 }]);
    const page = JSON.parse(await pullPage(store, tenant.id, 0, 100));
    expect(page.changes.map((c: { id: string; version: number }) => [c.id, c.version])).toEqual([
      ["from-a", 1],
      ["from-b", 2],
    ]);
  });
});
