import { afterAll, expect, test } from "bun:test";
import { countingAdapter, type SqlEvent } from "../helpers/counting-sqlite.ts";
import { startServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { api } from "./client.ts";

/**
 * A small sync's push carries `?pull=<cursor>`. When the client was caught up (its cursor is
 * where the push's commit began), the page is the commit's own rows, written from memory
 * (events/changes.ts commitPage): after the commit the server reads nothing. The suite
 * (suite-push.ts) checks the page equals a pull read, on every store.
 */
const dir = tempDir("stowage-page-from-commit-");
afterAll(() => dir.cleanup());

test("a caught-up client's push reads no documents after its commit; a client behind gets its page read", async () => {
  const log: SqlEvent[] = [];
  const server = await startServer({ adapter: countingAdapter(dir.file("server.db"), "server", log) });
  try {
    const a = api(server.url, server.key);
    const first = await a.pull();
    if (!("cursor" in first)) throw new Error("a new tenant answered reset");
    const start = first.cursor;
    const afterCommit = async (cursor: string, opId: number) => {
      log.length = 0;
      const r = await a.call("POST", `/v1/push?pull=${encodeURIComponent(cursor)}&limit=100`, {
        clientId: "client-from-commit",
        ops: [{ opId, collection: "docs", id: `d${opId}`, op: "put", value: { n: opId } }],
      });
      expect(r.status).toBe(200);
      const commit = log.findLastIndex((e) => /^commit/i.test(e.sql));
      return { page: r.json.pull, reads: log.slice(commit + 1).map((e) => e.sql.replace(/\s+/g, " ")) };
    };
    const caughtUp = await afterCommit(start, 1);
    expect(caughtUp.page.changes.map((c: { id: string }) => c.id)).toEqual(["d1"]);
    expect(caughtUp.reads).toEqual([]);
    // From the start again: the page is d1 and d2, read from the database.
    const behind = await afterCommit(start, 2);
    expect(behind.page.changes.map((c: { id: string }) => c.id)).toEqual(["d1", "d2"]);
    expect(behind.reads.some((sql) => /from "?stowage_docs"? where/.test(sql))).toBe(true);
  } finally {
    await server.stop();
  }
});
