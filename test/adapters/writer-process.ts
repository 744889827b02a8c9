// Child process for the mixed-driver multi-process test; runs under Bun or Node.
// Usage: <runtime> writer-process.ts <bun-sqlite|node-sqlite|libsql> <db> <prefix> <count>
// Writes in a loop (put, transaction of two, putMany, put+patch) and prints `ack <id>` after
// each write returned, then `done`.
import type { StowageAdapter } from "../../src/adapter.ts";
import { Store } from "../../src/store/store.ts";

const [driver, dbPath, prefix, countArg] = process.argv.slice(2);
const count = Number(countArg);

async function adapter(): Promise<StowageAdapter> {
  if (driver === "bun-sqlite") return (await import("../../adapters/bun-sqlite/index.ts")).createBunSqliteAdapter({ path: dbPath });
  if (driver === "node-sqlite") return (await import("../../adapters/node-sqlite/index.ts")).createNodeSqliteAdapter({ path: dbPath });
  if (driver === "libsql") return (await import("../../adapters/libsql/index.ts")).createLibsqlAdapter({ url: `file:${dbPath}` });
  throw new Error(`unknown driver ${driver}`);
}

const store = await Store.open({ adapter: await adapter() });
const docs = store.collection("mixed");
const out = (line: string) => process.stdout.write(`${line}\n`);

for (let i = 0; i < count; i++) {
  const id = `${prefix}-${i}`;
  switch (i % 4) {
    case 0:
      await docs.put({ id, i, by: driver, pad: "x".repeat(150) });
      out(`ack ${id}`);
      break;
    case 1:
      await store.transaction(async (tx) => {
        await tx.collection("mixed").put({ id, i, by: driver });
        await tx.collection("mixed").put({ id: `${id}-pair`, i, by: driver });
      });
      out(`ack ${id}`);
      out(`ack ${id}-pair`);
      break;
    case 2:
      await docs.putMany([{ id, i, by: driver }, { id: `${id}-m`, i, by: driver }]);
      out(`ack ${id}`);
      out(`ack ${id}-m`);
      break;
    default:
      await docs.put({ id, i, by: driver });
      await docs.patch(id, { patched: true });
      out(`ack ${id}`);
  }
}
await store.close();
out("done");
