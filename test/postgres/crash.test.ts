import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pg from "pg";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { createKey, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../helpers/pg.ts";
import { call, spawnPgServer, type PgServerProcess } from "./spawn.ts";

/** A server process SIGKILLed in the middle of a push leaves all of the push or none of it. */
const run = await pgAvailable("PostgreSQL crash test");
const N = 200;

function group(clientId: string, firstOpId: number, prefix: string, n = N) {
  return {
    clientId,
    ops: Array.from({ length: n }, (_, i) => ({
      opId: firstOpId + i,
      tx: firstOpId,
      collection: "crash",
      id: `${prefix}-${i}`,
      op: "put",
      value: { i, pad: "x".repeat(200) },
    })),
  };
}

async function countDocs(schema: string, prefix: string): Promise<number> {
  const rows = await pgQuery<{ n: number }>("select count(*)::int as n from stowage_docs where id like $1", [`${prefix}-%`], schema);
  return rows[0].n;
}

/** Waits until no backend of this schema's servers is still inside a transaction. */
async function settled(schema: string): Promise<void> {
  for (;;) {
    const rows = await pgQuery<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where application_name = 'stowage' and state <> 'idle'",
      [],
      schema,
    );
    if (rows[0].n === 0) return;
    await Bun.sleep(20);
  }
}

describe.skipIf(!run)("SIGKILL of a PostgreSQL server process mid-push", () => {
  const schema = newSchemaName();
  let store: ServerStore;
  let key: string;
  const procs: PgServerProcess[] = [];

  beforeAll(async () => {
    store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
    key = (await createKey(store, "crash", { createIfMissing: true })).key;
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await store?.close();
    await dropSchema(schema);
  });

  // The server sends a small push's last write and its COMMIT as one message (src/server/tx.ts):
  // a process killed while that write waits on a lock has already asked for the commit, which
  // PostgreSQL then carries out alone, so the group lands, whole and once, and the client's
  // resend is answered `duplicate`. A big write (over 16 KiB of values: 200 ops here) and every
  // write with `?prepare=false` go bound, COMMIT after: the COMMIT was never sent, so nothing
  // lands and the resend applies the group. Either way: all or none, once.
  for (const mode of [
    { name: "pipelined (default, 20 ops)", suffix: "", prefix: "a", ops: 20, landed: 20, resend: "duplicate" },
    { name: "default, 200 ops", suffix: "", prefix: "b", ops: N, landed: 0, resend: "applied" },
    { name: "?prepare=false, 20 ops", suffix: "prepare=false", prefix: "c", ops: 20, landed: 0, resend: "applied" },
  ]) {
    test(`${mode.name}: killed while its write waits on a lock, before any answer: the group lands whole or not at all, and a resend leaves it there once`, async () => {
      const url = mode.suffix ? `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}${mode.suffix}` : PG_URL;
      const client = `crashclient${mode.prefix}`;
      // Seed the client's mark so its row exists, then hold that row's lock: the push writes its
      // 200 documents, then blocks on the mark update, inside its open transaction.
      const server = await spawnPgServer(url, schema);
      procs.push(server);
      const first = await call(server.url, key, "/v1/push", { clientId: client, ops: [{ opId: 1, collection: "crash", id: `seed-${mode.prefix}`, op: "put", value: {} }] });
      expect(first.json.results[0].status).toBe("applied");

      const blocker = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
      await blocker.connect();
      try {
        await blocker.query("begin");
        await blocker.query("select * from stowage_clients where client_id = $1 for update", [client]);
        const pending = call(server.url, key, "/v1/push", group(client, 2, mode.prefix, mode.ops)).catch((e: unknown) => e);
        // Wait until the server's transaction is stuck on our lock, i.e. past every document write
        // (the write statement writes the documents, then the marks). Our row is the only lock a
        // push can wait on here, whatever text pg_stat_activity shows for it.
        for (;;) {
          const rows = await pgQuery<{ n: number }>(
            "select count(*)::int as n from pg_stat_activity where application_name = 'stowage' and wait_event_type = 'Lock'",
          );
          if (rows[0].n > 0) break;
          await Bun.sleep(10);
        }
        await server.kill("SIGKILL");
        expect(await pending).toBeInstanceOf(Error); // the client never got an answer
        await blocker.query("rollback");
      } finally {
        await blocker.end();
      }
      await settled(schema);
      expect(await countDocs(schema, mode.prefix)).toBe(mode.landed);

      // The client resends the same request to a new process: the group is there once, whole.
      const again = await spawnPgServer(url, schema);
      procs.push(again);
      const res = await call(again.url, key, "/v1/push", group(client, 2, mode.prefix, mode.ops));
      expect(res.status).toBe(200);
      expect(res.json.results.map((r: { status: string }) => r.status)).toEqual(Array(mode.ops).fill(mode.resend));
      expect(await countDocs(schema, mode.prefix)).toBe(mode.ops);
      const twice = await call(again.url, key, "/v1/push", group(client, 2, mode.prefix, mode.ops));
      expect(twice.json.results.map((r: { status: string }) => r.status)).toEqual(Array(mode.ops).fill("duplicate"));
      expect(await countDocs(schema, mode.prefix)).toBe(mode.ops);
      await again.kill();
    });
  }

  test("killed at arbitrary moments during pushes of 200-op groups: every group is all there or absent", async () => {
    const outcomes: number[] = [];
    const delays = [0, 20, 50, 80, 120, 170, 250, 400];
    for (let round = 0; round < delays.length; round++) {
      const server = await spawnPgServer(PG_URL, schema);
      procs.push(server);
      const prefix = `r${round}`;
      const pushes = Array.from({ length: 4 }, (_, k) =>
        call(server.url, key, "/v1/push", group(`roundclient${round}x${k}`, 1, `${prefix}-${k}`)).catch(() => undefined),
      );
      // Kill at a different moment each round: before, during and after the transactions.
      await Bun.sleep(delays[round]);
      await server.kill("SIGKILL");
      await Promise.all(pushes);
      await settled(schema);
      for (let k = 0; k < 4; k++) {
        const n = await countDocs(schema, `${prefix}-${k}`);
        outcomes.push(n);
        expect([0, N]).toContain(n);
      }
    }
    // Each group's client mark agrees with its documents: applied whole, recorded whole.
    const marks = await pgQuery<{ client_id: string; last_op_id: number }>("select client_id, last_op_id::int from stowage_clients where client_id like 'roundclient%'", [], schema);
    expect(marks.every((m) => m.last_op_id === N)).toBe(true);
    expect(marks.length).toBe(outcomes.filter((n) => n === N).length);
    console.log(`crash rounds: ${outcomes.filter((n) => n === N).length} groups committed whole, ${outcomes.filter((n) => n === 0).length} absent, 0 partial`);
  });
});
