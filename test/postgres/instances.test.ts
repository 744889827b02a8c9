import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPostgresAdapter, listenForChanges, type ChangeListener } from "../../adapters/postgres/index.ts";
import { createKey, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable } from "../helpers/pg.ts";
import { call, spawnPgServer, type PgServerProcess } from "./spawn.ts";

/**
 * Two real server processes over one PostgreSQL schema; 16 writers push through both while a
 * reader pulls through both the whole time. A change numbered below one the reader already
 * passed, committing after it had passed, would never reach the reader: the test catches it.
 */
const run = await pgAvailable("PostgreSQL multi-instance test");

const WRITERS = 16;
const PUSHES = 20;
const OPS = 16; // per push; every 4th push is one all-or-nothing tx group

describe.skipIf(!run)("two server instances over one PostgreSQL database", () => {
  const schema = newSchemaName();
  let store: ServerStore;
  let key: string;
  let tenantId: string;
  let servers: PgServerProcess[] = [];
  let listener: ChangeListener;

  beforeAll(async () => {
    store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
    const created = await createKey(store, "many", { createIfMissing: true });
    key = created.key;
    tenantId = created.tenant.id;
    listener = listenForChanges({ url: PG_URL, schema });
    servers = await Promise.all([spawnPgServer(PG_URL, schema), spawnPgServer(PG_URL, schema)]);
    await listener.ready;
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await listener?.close();
    await store?.close();
    await dropSchema(schema);
  });

  test("16 writers over both instances, a reader pulling through both: every change exactly once, none missed", async () => {
    const acked = new Map<string, number>(); // doc id -> version the push answered
    let lastPoke = 0;
    listener.subscribe(tenantId, (p) => {
      if (p.seq !== undefined && p.seq > lastPoke) lastPoke = p.seq;
    });

    const writer = async (w: number) => {
      const clientId = `writer-${String(w).padStart(4, "0")}`;
      let opId = 0;
      for (let p = 0; p < PUSHES; p++) {
        const tx = p % 4 === 3 ? opId + 1 : undefined;
        const ops = Array.from({ length: OPS }, () => {
          opId++;
          return { opId, ...(tx ? { tx } : {}), collection: "notes", id: `w${w}-${opId}`, op: "put", value: { w, opId } };
        });
        // Alternate instances per push, starting on a different one per writer.
        const base = servers[(w + p) % 2].url;
        const res = await call(base, key, "/v1/push", { clientId, ops });
        expect(res.status).toBe(200);
        for (const r of res.json.results) {
          expect(r.status).toBe("applied");
          acked.set(`w${w}-${r.opId}`, r.version);
        }
      }
    };

    const seen = new Map<string, number>();
    const duplicates: string[] = [];
    let cursor = "";
    let pulls = 0;
    const pullOnce = async (): Promise<boolean> => {
      const res = await call(servers[pulls++ % 2].url, key, `/v1/pull?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      for (const c of res.json.changes) {
        if (seen.has(c.id)) duplicates.push(c.id);
        seen.set(c.id, c.version);
      }
      cursor = res.json.cursor;
      return res.json.more;
    };
    let writing = true;
    const reader = (async () => {
      while (writing) await pullOnce();
      while (await pullOnce());
    })();

    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
    writing = false;
    await reader;

    const total = WRITERS * PUSHES * OPS;
    expect(acked.size).toBe(total);
    expect(duplicates).toEqual([]);
    expect(seen.size).toBe(total);
    expect(seen).toEqual(acked);
    // Commit-ordered allocation leaves no holes: the versions are exactly 1..total.
    expect([...acked.values()].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(pulls).toBeGreaterThan(2);

    // A fresh pull from the start, through the other instance, equals the acknowledged writes.
    const fresh = new Map<string, number>();
    let c = "";
    for (;;) {
      const res = await call(servers[1].url, key, `/v1/pull?limit=1000${c ? `&cursor=${c}` : ""}`);
      for (const ch of res.json.changes) fresh.set(ch.id, ch.version);
      c = res.json.cursor;
      if (!res.json.more) break;
    }
    expect(fresh).toEqual(acked);

    // Every commit was announced over NOTIFY; the last poke carries the final counter.
    for (let waited = 0; lastPoke < total && waited < 10_000; waited += 10) await Bun.sleep(10);
    expect(lastPoke).toBe(total);
  });
});
