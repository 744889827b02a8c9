import { afterAll } from "bun:test";
import { join } from "node:path";
import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { createNodeSqliteAdapter } from "../../adapters/node-sqlite/index.ts";
import { runServerSuite } from "../server/suite.ts";
import { startHranaServer, type HranaServer } from "./hrana-server.ts";

// The sync server's whole suite with its store on each of our other adapters
// (test/server/sqlite.test.ts runs it on bun-sqlite, postgres.test.ts on PostgreSQL).
runServerSuite({ name: "node-sqlite", openAdapter: (dir) => createNodeSqliteAdapter({ path: join(dir, "server.db") }) });
runServerSuite({ name: "libsql file", openAdapter: (dir) => createLibsqlAdapter({ url: `file:${join(dir, "server.db")}` }) });

// And on a remote libsql database (Hrana over HTTP), as `stowage serve --data libsql://…` would use.
const hrana: HranaServer[] = [];
afterAll(async () => {
  for (const h of hrana) await h.stop();
});
runServerSuite({
  name: "libsql remote",
  openAdapter: (dir) => {
    const h = startHranaServer({ path: join(dir, "server.db"), authToken: "tok" });
    hrana.push(h);
    return createLibsqlAdapter({ url: h.url, authToken: "tok" });
  },
});
