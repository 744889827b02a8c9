import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { runConformance } from "./suite.ts";

runConformance({
  name: "bun-sqlite",
  open: (path) => createBunSqliteAdapter({ path }),
  capabilities: createBunSqliteAdapter({ path: "x.db" }).capabilities,
});

runConformance({
  name: "bun-sqlite :memory:",
  open: () => createBunSqliteAdapter({ path: ":memory:" }),
  capabilities: createBunSqliteAdapter({ path: ":memory:" }).capabilities,
});
