import pg from "pg";
import { createPostgresAdapter } from "../adapters/postgres/index.ts";
import { createKey, findTenant, openServerStore } from "../src/server/index.ts";
import { push } from "../src/server/push.ts";
import { PG_URL, dropSchema, newSchemaName, pgQuery } from "../test/helpers/pg.ts";

/**
 * Anchors for the PostgreSQL rows of `bench live`, in this process, one change at a time:
 * - `transaction`: the database's part of a one-op push alone: BEGIN, lock the counter row,
 *   read the document, one write that also moves the counter, COMMIT (five round trips, named
 *   statements as the server's) from a bare node-postgres client;
 * - `push`: the server's own push() over PostgreSQL (no HTTP, auth or events): the same
 *   statements with the server's code around them, in two round trips (src/server/tx.ts), and
 *   sent one statement at a time, as with `?prepare=false`.
 * Each runs back to back and with `pauseMs` of sleep between changes, as a server idles between
 * the changes of the live loop. The pause makes both slower: caches and cores have gone cold
 * meanwhile (on this shared 2-vCPU VM, measured before push() was pipelined: transaction
 * 0.38 -> 0.60 ms p50, push() 0.60 -> 1.00 ms). It cost push() about twice what it cost the
 * bare transaction: the server's JavaScript around the round trips runs cold too.
 */
export async function pgPushAnchors(changes: number, kind: "transaction" | "push" | "push, one statement at a time", pauseMs: number, warmup = 50): Promise<number[]> {
  const schema = newSchemaName();
  await pgQuery(`create schema ${schema}`);
  try {
    const step = kind === "transaction" ? await bareTransaction(schema) : await serverPush(schema, kind === "push");
    try {
      const samples: number[] = [];
      for (let i = 0; i < changes + warmup; i++) {
        const start = performance.now();
        await step.run(i);
        if (i >= warmup) samples.push(performance.now() - start);
        if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
      return samples.sort((a, b) => a - b);
    } finally {
      await step.close();
    }
  } finally {
    await dropSchema(schema);
  }
}

interface Step {
  run(i: number): Promise<void>;
  close(): Promise<void>;
}

async function bareTransaction(schema: string): Promise<Step> {
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  client.on("error", () => {});
  await client.connect();
  await client.query("create table counter (id text primary key, seq bigint not null)");
  await client.query("create table docs (tenant text, id text, seq bigint not null, body jsonb, primary key (tenant, id))");
  await client.query("insert into counter values ('t', 0)");
  return {
    async run(i) {
      const id = `d${i % 50}`;
      await client.query("begin");
      const [{ seq }] = (await client.query({ name: "lock", text: "select seq from counter where id = $1 for update", values: ["t"] })).rows;
      await client.query({ name: "read", text: "select seq, body from docs where tenant = $1 and id = $2", values: ["t", id] });
      const next = Number(seq) + 1;
      await client.query({
        name: "write",
        text: `with d as (insert into docs values ($1, $2, $3, $4) on conflict (tenant, id) do update set seq = excluded.seq, body = excluded.body)
          update counter set seq = $3 where id = $1`,
        values: ["t", id, next, JSON.stringify({ id, n: i })],
      });
      await client.query("commit");
    },
    close: () => client.end(),
  };
}

async function serverPush(schema: string, pipeline: boolean): Promise<Step> {
  const adapter = createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } });
  const store = await openServerStore({ adapter: { ...adapter, capabilities: { ...adapter.capabilities, pipeline } } });
  await createKey(store, "anchor", { createIfMissing: true });
  const tenant = (await findTenant(store, "anchor"))!.id;
  const limits = { maxValueChars: 1 << 20, maxValueDepth: 64 };
  return {
    async run(i) {
      const id = `d${i % 50}`;
      await push(store, tenant, { clientId: "anchor", ops: [{ opId: i + 1, collection: "lat", id, op: "put", value: { id, n: i } }] }, limits, Date.now());
    },
    close: () => store.close(),
  };
}
