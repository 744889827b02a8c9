import { Database } from "bun:sqlite";
import { DatabaseSync } from "node:sqlite";
import { createClient } from "@libsql/client";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { createLibsqlAdapter } from "../adapters/libsql/index.ts";
import { createNodeSqliteAdapter } from "../adapters/node-sqlite/index.ts";
import { sqlitePragmas, type StowageAdapter } from "../src/adapter.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { makeDocs, timePutMany } from "./local.ts";
import type { Reporter } from "./report.ts";

const N = 10_000;
const RUNS = 5;
const SECTION = "adapters: local putMany of 10,000 docs (~200 B), one transaction, WAL, synchronous=normal";

/** Raw bun:sqlite, one prepared insert per row in one transaction: the baseline every ratio uses. */
function rawInsert(path: string, docs: ReturnType<typeof makeDocs>): number {
  const db = new Database(path, { create: true });
  db.exec(sqlitePragmas({ path }));
  db.exec("create table docs (id text primary key, body text not null)");
  const insert = db.prepare("insert into docs (id, body) values (?, ?)");
  const start = performance.now();
  db.transaction(() => {
    for (const d of docs) insert.run(d.id, JSON.stringify(d));
  })();
  const ms = performance.now() - start;
  db.close();
  return ms;
}

/** The same rows through node:sqlite directly: how much of an adapter's gap is the driver's. */
function rawNodeSqlite(path: string, docs: ReturnType<typeof makeDocs>): number {
  const db = new DatabaseSync(path);
  db.exec(sqlitePragmas({ path }));
  db.exec("create table docs (id text primary key, body text not null)");
  const insert = db.prepare("insert into docs (id, body) values (?, ?)");
  const start = performance.now();
  db.exec("begin");
  for (const d of docs) insert.run(d.id, JSON.stringify(d));
  db.exec("commit");
  const ms = performance.now() - start;
  db.close();
  return ms;
}

/** The same rows through @libsql/client directly, one execute per row in one transaction. */
async function rawLibsql(path: string, docs: ReturnType<typeof makeDocs>): Promise<number> {
  const client = createClient({ url: `file:${path}` });
  await client.executeMultiple(sqlitePragmas({ path }));
  await client.execute("create table docs (id text primary key, body text not null)");
  const start = performance.now();
  const tx = await client.transaction("write");
  for (const d of docs) await tx.execute({ sql: "insert into docs (id, body) values (?, ?)", args: [d.id, JSON.stringify(d)] });
  await tx.commit();
  const ms = performance.now() - start;
  client.close();
  return ms;
}

export default async function bench(r: Reporter): Promise<void> {
  const dir = tempDir("stowage-bench-adapters-");
  try {
    const best = async (fn: (i: number) => Promise<number> | number) => {
      let min = Infinity;
      for (let i = 0; i < RUNS; i++) min = Math.min(min, await fn(i));
      return min;
    };
    const raw = await best((i) => rawInsert(dir.file(`raw-${i}.db`), makeDocs(N)));
    r.figure(SECTION, "raw bun:sqlite insert (baseline)", (N / raw) * 1000, "rows/s");
    const rawNode = await best((i) => rawNodeSqlite(dir.file(`raw-node-${i}.db`), makeDocs(N)));
    r.figure(SECTION, "raw node:sqlite insert (driver alone, for reference)", (N / rawNode) * 1000, "rows/s", { ratio: raw / rawNode });
    const rawLib = await best((i) => rawLibsql(dir.file(`raw-libsql-${i}.db`), makeDocs(N)));
    r.figure(SECTION, "raw @libsql/client insert (driver alone, for reference)", (N / rawLib) * 1000, "rows/s", { ratio: raw / rawLib });

    const targets: [string, (i: number) => StowageAdapter][] = [
      ["bun-sqlite (file)", (i) => createBunSqliteAdapter({ path: dir.file(`bun-${i}.db`) })],
      ["node-sqlite (file, node:sqlite in Bun)", (i) => createNodeSqliteAdapter({ path: dir.file(`node-${i}.db`) })],
      ["libsql (file:)", (i) => createLibsqlAdapter({ url: `file:${dir.file(`libsql-${i}.db`)}` })],
      ["libsql (:memory:)", () => createLibsqlAdapter({ url: ":memory:" })],
    ];
    for (const [name, open] of targets) {
      const ms = await best((i) => timePutMany(open(i)));
      r.figure(SECTION, `putMany + outbox on ${name}`, (N / ms) * 1000, "docs/s", { ratio: raw / ms });
    }
  } finally {
    dir.cleanup();
  }
}
