import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { runConformance } from "./suite.ts";

runConformance({
  name: "libsql file",
  open: (path) => createLibsqlAdapter({ url: `file:${path}` }),
  capabilities: createLibsqlAdapter({ url: "file:x.db" }).capabilities,
});
