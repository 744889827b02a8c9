import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { runConformance } from "./suite.ts";

runConformance({
  name: "libsql :memory:",
  open: () => createLibsqlAdapter({ url: ":memory:" }),
  capabilities: createLibsqlAdapter({ url: ":memory:" }).capabilities,
});
