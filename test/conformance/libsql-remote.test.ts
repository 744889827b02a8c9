import { afterAll } from "bun:test";
import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { startHranaServer, type HranaServer } from "../adapters/hrana-server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { runConformance } from "./suite.ts";

// The remote path (http:// URL, auth token, transactions on Hrana streams) against a
// Hrana v2 server on bun:sqlite; one server per database path the suite opens.
const dir = tempDir();
const servers = new Map<string, HranaServer>();
const TOKEN = "test-token";
afterAll(async () => {
  for (const s of servers.values()) await s.stop();
  dir.cleanup();
});

runConformance({
  name: "libsql remote (Hrana over HTTP)",
  open: (path) => {
    let server = servers.get(path);
    if (!server) {
      server = startHranaServer({ path, authToken: TOKEN });
      servers.set(path, server);
    }
    return createLibsqlAdapter({ url: server.url, authToken: TOKEN });
  },
  capabilities: createLibsqlAdapter({ url: "http://127.0.0.1:1" }).capabilities,
});
