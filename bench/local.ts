import { Database } from "bun:sqlite";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { sqlitePragmas, type StowageAdapter } from "../src/adapter.ts";
import { uuidv7 } from "../src/ids.ts";
import { Store } from "../src/store/store.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import type { Reporter } from "./report.ts";

const N = 10_000;
const SINGLE_N = 10_000;

/** ~200-byte documents, the same rows for Stowage and the raw baseline. */
export function makeDocs(n: number): { id: string; title: string; body: string; n: number; done: boolean }[] {
  return Array.from({ length: n }, (_, i) => ({
    id: uuidv7(),
    title: `document number ${i}`,
    body: "lorem ipsum dolor sit amet ".repeat(5).slice(0, 120),
    n: i,
    done: i % 2 === 0,
  }));
}

/** Milliseconds for one `putMany` of N fresh documents on a fresh store over `adapter`. */
export async function timePutMany(adapter: StowageAdapter): Promise<number> {
  const store = await Store.open({ adapter });
  const docs = makeDocs(N);
  const start = performance.now();
  await store.collection("bench").putMany(docs);
  const ms = performance.now() - start;
  await store.close();
  return ms;
}

/** Raw bun:sqlite: one prepared insert per row, same pragmas (WAL, synchronous=normal). */
function rawInsert(path: string, docs: ReturnType<typeof makeDocs>, perRowTransaction: boolean): number {
  const db = new Database(path, { create: true });
  db.exec(sqlitePragmas({ path }));
  db.exec("create table docs (id text primary key, body text not null)");
  const insert = db.prepare("insert into docs (id, body) values (?, ?)");
  const start = performance.now();
  if (perRowTransaction) {
    const one = db.transaction((d: (typeof docs)[number]) => insert.run(d.id, JSON.stringify(d)));
    for (const d of docs) one(d);
  } else {
    db.transaction(() => {
      for (const d of docs) insert.run(d.id, JSON.stringify(d));
    })();
  }
  const ms = performance.now() - start;
  db.close();
  return ms;
}

export default async function bench(r: Reporter): Promise<void> {
  const dir = tempDir("stowage-bench-");
  try {
    const best = async (runs: number, fn: (i: number) => Promise<number> | number) => {
      let min = Infinity;
      for (let i = 0; i < runs; i++) min = Math.min(min, await fn(i));
      return min;
    };

    const rawMany = await best(3, (i) => rawInsert(dir.file(`raw-many-${i}.db`), makeDocs(N), false));
    const many = await best(3, (i) => timePutMany(createBunSqliteAdapter({ path: dir.file(`stowage-many-${i}.db`) })));
    r.figure("local store (bun-sqlite, WAL, synchronous=normal)", `raw bun:sqlite insert, ${N} rows in one transaction`, (N / rawMany) * 1000, "rows/s");
    r.figure("local store (bun-sqlite, WAL, synchronous=normal)", `putMany ${N} docs (~200 B) + outbox, one transaction`, (N / many) * 1000, "docs/s", { ratio: rawMany / many });

    const rawSingle = await best(3, (i) => rawInsert(dir.file(`raw-single-${i}.db`), makeDocs(SINGLE_N), true));
    const single = await best(3, async (i) => {
      const store = await Store.open({ adapter: createBunSqliteAdapter({ path: dir.file(`stowage-single-${i}.db`) }) });
      const c = store.collection("bench");
      const docs = makeDocs(SINGLE_N);
      const start = performance.now();
      for (const d of docs) await c.put(d);
      const ms = performance.now() - start;
      await store.close();
      return ms;
    });
    r.figure("local store (bun-sqlite, WAL, synchronous=normal)", `raw bun:sqlite insert, ${SINGLE_N} rows, own transaction each`, (SINGLE_N / rawSingle) * 1000, "rows/s");
    r.figure("local store (bun-sqlite, WAL, synchronous=normal)", `put ${SINGLE_N} docs, own transaction each (+ outbox)`, (SINGLE_N / single) * 1000, "docs/s", { ratio: rawSingle / single });

    const store = await Store.open({ adapter: createBunSqliteAdapter({ path: dir.file("reads.db") }) });
    const c = store.collection("bench", { indexes: ["n"] });
    const docs = makeDocs(N);
    await c.putMany(docs);
    const getMs = await best(3, async () => {
      const start = performance.now();
      for (let i = 0; i < N; i++) await c.get(docs[i].id);
      return performance.now() - start;
    });
    r.figure("local store (bun-sqlite, WAL, synchronous=normal)", `get by id (${N} stored, each once)`, (N / getMs) * 1000, "reads/s");
    await store.close();
  } finally {
    dir.cleanup();
  }
}
