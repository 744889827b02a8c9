import { createNodeSqliteAdapter } from "../../adapters/node-sqlite/index.ts";
import { runConformance } from "./suite.ts";

runConformance({
  name: "node-sqlite",
  open: (path) => createNodeSqliteAdapter({ path }),
  capabilities: createNodeSqliteAdapter({ path: "x.db" }).capabilities,
});

runConformance({
  name: "node-sqlite :memory:",
  open: () => createNodeSqliteAdapter({ path: ":memory:" }),
  capabilities: createNodeSqliteAdapter({ path: ":memory:" }).capabilities,
});
