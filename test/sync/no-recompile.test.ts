import { expect, test } from "bun:test";
import { join } from "node:path";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import { countingAdapter, type SqlEvent } from "../helpers/counting-sqlite.ts";
import { startServer } from "../helpers/server.ts";
import { testScope } from "../helpers/scope.ts";

// SQLite compiles a prepared statement again on every run when its plan could depend on a bound
// value (`LIMIT ?`; `text_column = ?` in a query that also orders or joins): 8-15 µs each
// time, more than most of these statements cost to run. Every statement a small sync, a local
// write or a list runs (client and server) is replayed under Node 24's node:sqlite, whose
// authorizer hook shows each compilation; none may compile again. (Node's SQLite 3.53 does not
// recompile the server's key read, a join on `k.id = ?`; Bun's 3.54 does, so it is cast too.)
const scope = testScope("stowage-recompile-");
const NODE = join(import.meta.dir, "../../node_modules/.bin/node");
const REPLAY = join(import.meta.dir, "../fixtures/replay-statements.ts");
const DML = /^\s*(\/\*[^]*?\*\/\s*)?(select|insert|update|delete|with)\b/i;

test("no statement of a small sync, a local write or a list is compiled again on each run", async () => {
  const log: SqlEvent[] = [];
  const server = await startServer({ adapter: countingAdapter(scope.file("server"), "server", log) });
  const open: Stowage[] = [];
  const client = async () => {
    const c = await openStowage({ adapter: countingAdapter(scope.file("client"), "client", log), url: server.url, apiKey: server.key, env: {}, autoSync: false, live: false });
    open.push(c);
    return c;
  };
  try {
    const a = await client();
    const b = await client();
    await a.collection("docs").putMany(Array.from({ length: 50 }, (_, i) => ({ id: `d${i}`, n: i })));
    await a.sync();
    await b.sync();
    log.length = 0;
    for (let i = 0; i < 3; i++) {
      await a.collection("docs").put({ id: `w${i}`, n: i });
      await a.collection("docs").patch(`d${i}`, { m: i });
      await a.collection("docs").delete(`d${i + 10}`);
      await a.sync();
      await b.sync();
      await b.collection("docs").get(`w${i}`);
      await b.collection("docs").list({ limit: 10 });
      await b.collection("docs").list({ where: { n: { gt: 5 } }, orderBy: "-n", limit: 5 });
      await b.collection("docs").count({ n: i });
    }
  } finally {
    for (const c of open) await c.close();
    await server.stop();
  }
  const seen = new Map<string, { path: string; sql: string; params: unknown[] }>();
  for (const e of log) {
    if (DML.test(e.sql) && !seen.has(`${e.path}\n${e.sql}`)) seen.set(`${e.path}\n${e.sql}`, { path: e.path, sql: e.sql, params: [...e.params] });
  }
  // Both sides' hot paths are in the log: the server's pull page and the client's outbox read.
  expect([...seen.values()].some((s) => s.sql.includes('from "stowage_docs" where "tenant_id"'))).toBe(true);
  expect([...seen.values()].some((s) => s.sql.includes("from _stowage_outbox where op_id >"))).toBe(true);
  const input = scope.dir.file("statements.json");
  await Bun.write(input, JSON.stringify([...seen.values()], (_k, v) => (typeof v === "bigint" ? Number(v) : v)));
  const child = Bun.spawn([NODE, "--disable-warning=ExperimentalWarning", REPLAY, input], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  // One comparison, so a failure shows everything: the child's exit (and stderr if it failed), and the statements.
  const results = code === 0 ? (JSON.parse(out) as { sql: string; recompiles: number }[]) : [];
  expect({ code, err: code === 0 ? "" : err, replayed: results.length, recompiled: results.filter((r) => r.recompiles > 0) }).toEqual({ code: 0, err: "", replayed: seen.size, recompiled: [] });
}, 60_000);
