import { createClient } from "@libsql/client";
import { sqlitePragmas, type StowageAdapter } from "../../src/adapter.ts";
import { StowageError } from "../../src/errors.ts";
import { LibsqlDialect } from "./libsql-dialect.ts";

export interface LibsqlOptions {
  /** `file:path.db` (or a bare path), `:memory:`, `libsql://…`, `http(s)://…` or `ws(s)://…`. */
  url: string;
  /** Token for a remote database (Turso, sqld); ignored for local files. */
  authToken?: string;
  /** Encrypts a local file at rest; passed to libsql unchanged. */
  encryptionKey?: string;
  /** `normal` (default) survives process crashes; `full` also survives power loss. Local only. */
  durability?: "normal" | "full";
  /** How long a writer waits for another process's lock, in ms (default 5000). Local only. */
  busyTimeoutMs?: number;
}

const REMOTE = /^(libsql|https?|wss?):\/\//i;

/** Stowage over @libsql/client: local files, `:memory:`, or a remote libsql server. */
export function createLibsqlAdapter(options: LibsqlOptions): StowageAdapter {
  const url = normalizeUrl(options.url);
  const remote = REMOTE.test(url);
  const memory = !remote && /^(file:)?:memory:/i.test(url);
  if (remote && options.encryptionKey !== undefined) {
    throw new StowageError("config", `encryptionKey applies to local files only, not to the remote URL ${redact(url)}`);
  }
  return {
    name: "libsql",
    location: remote ? redact(url) : url,
    dialect: new LibsqlDialect(async () => {
      const client = createClient({
        url,
        authToken: options.authToken,
        encryptionKey: options.encryptionKey,
        // One connection: our driver's lock already serialises every query, and the
        // per-connection pragmas below then hold for every statement.
        concurrency: remote ? undefined : 1,
        // The pragma below sets it too; this also covers a connection the pool reopens.
        timeout: remote ? undefined : Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000)),
      });
      if (!remote) {
        try {
          await client.executeMultiple(sqlitePragmas({ path: memory ? ":memory:" : url, ...options }));
        } catch (e) {
          client.close();
          throw e;
        }
      }
      return client;
    }),
    capabilities: {
      sql: "sqlite",
      persistent: !memory,
      // A remote database is shared by design, but not as one file several local processes lock.
      multiProcess: !memory && !remote,
      savepoints: true,
      // libsql's embedded engine ships FTS5; a remote server's build is not ours to promise.
      fts5: !remote,
    },
  };
}

function normalizeUrl(url: string): string {
  if (typeof url !== "string" || url.trim() === "") {
    throw new StowageError("config", `libsql url must be a file: path, :memory: or a remote URL, got ${JSON.stringify(url)}`);
  }
  if (url === ":memory:" || REMOTE.test(url) || /^file:/i.test(url)) return url;
  return `file:${url}`;
}

/** Drops credentials from a remote URL so it can go into messages and status. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    // WHATWG URL adds a lone "/" path to http(s) but not to libsql:; show both the same way.
    return u.toString().replace(/\/$/, "");
  } catch {
    return url.replace(/\?.*$/, "");
  }
}
