import type { Kysely } from "kysely";
import { PIPELINE, type PipelineStatement } from "../adapter.ts";
import { isStowageError } from "../errors.ts";
import { all, run } from "../store/sql.ts";
import type { ServerTables } from "./tables.ts";
import type { ServerStore } from "./store.ts";
import type { WriteTx } from "./sql/dialect.ts";

/**
 * A write transaction whose first and last statements may share their round trips with BEGIN
 * and COMMIT. On an adapter that pipelines (PostgreSQL, src/adapter.ts PIPELINE), `open` sends
 * BEGIN and the opening statements (a push's tenant lock and read) as one message, and `close`
 * sends the closing write and COMMIT as one: a one-op push is 2 round trips to the database
 * instead of 5. Each round trip costs the server more than the small statements it carries:
 * a wake-up of the database's process and of ours (in-process on a 2-vCPU VM, alternating
 * both ways: a one-op push 1.02–1.23 -> 0.88–1.12 ms p50, 2.06–2.41 -> 1.56–1.85 ms p95).
 * Elsewhere the same calls run one statement at a time in an ordinary Kysely transaction.
 */
export type { WriteTx };

/**
 * Runs `body` in a write transaction (committed when it returns, rolled back when it throws).
 * A pipelined transaction that fails because the adapter stopped pipelining meanwhile (its
 * connections turned out to keep no session: a pooler in transaction mode, found out by this
 * very transaction, adapters/postgres/session.ts) rolled back whole and runs once more, one
 * statement at a time, so the request is not answered an error for it.
 */
export async function writeTransaction<T>(store: ServerStore, body: (tx: WriteTx) => Promise<T>): Promise<T> {
  if (!store.adapter.capabilities.pipeline) return plainTransaction(store, body);
  try {
    return await pipelinedTransaction(store, body);
  } catch (e) {
    if (store.adapter.capabilities.pipeline || !isStowageError(e, "storage") || e.status !== 503) throw e;
    return plainTransaction(store, body);
  }
}

function plainTransaction<T>(store: ServerStore, body: (tx: WriteTx) => Promise<T>): Promise<T> {
  return store.db.transaction().execute((trx) =>
    body({
      db: trx,
      open: async (statements) => {
        const out: unknown[][] = [];
        for (const s of statements) out.push(await all(trx, s.text, s.values ?? []));
        return out;
      },
      close: async (s) => void (await run(trx, s.text, s.values ?? [])),
    }),
  );
}

function pipelinedTransaction<T>(store: ServerStore, body: (tx: WriteTx) => Promise<T>): Promise<T> {
  return store.db.connection().execute(async (conn) => {
    // "idle": nothing sent yet; "open": BEGIN sent (it may have failed: roll back to be sure).
    let state = "idle" as "idle" | "open" | "committed";
    const tx: WriteTx = {
      db: conn,
      open: async (statements) => {
        if (state !== "idle") throw new Error("writeTransaction: open() comes first, once");
        state = "open";
        // The small statements go with BEGIN; from the first big one on, one at a time, bound.
        let small = 0;
        while (small < statements.length && textChars(statements[small].values) <= PIPELINE_MAX_CHARS) small++;
        const out = (await all<unknown[]>(conn, PIPELINE, [[{ text: "begin" }, ...statements.slice(0, small)]])).slice(1);
        for (const s of statements.slice(small)) out.push(await all(conn, s.text, s.values ?? []));
        return out;
      },
      close: async (statement) => {
        if (state !== "open") throw new Error("writeTransaction: close() needs an open transaction");
        if (textChars(statement.values) <= PIPELINE_MAX_CHARS) {
          await all(conn, PIPELINE, [[statement, { text: "commit" }]]);
        } else {
          // A big write (a bulk push, a group commit) spends its time in the statement, not in
          // the round trip it would save, and its values cost more as escaped literals, copied
          // and lexed, than bound.
          await run(conn, statement.text, statement.values ?? []);
          await run(conn, "commit");
        }
        state = "committed";
      },
    };
    try {
      const result = await body(tx);
      if (state === "open") await run(conn, "commit");
      return result;
    } catch (e) {
      // After a failed COMMIT there is no transaction left and this only warns.
      if (state === "open") await run(conn, "rollback").catch(() => {});
      throw e;
    }
  });
}

/** The most text a pipelined statement's values carry (a small sync's push carries well under 1 KiB); a bigger one is sent bound, as usual. */
const PIPELINE_MAX_CHARS = 16 * 1024;

function textChars(values: readonly unknown[] | undefined): number {
  let n = 0;
  for (const v of values ?? []) if (typeof v === "string") n += v.length;
  return n;
}
