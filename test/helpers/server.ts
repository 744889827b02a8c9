import type { Subprocess } from "bun";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import type { StowageAdapter } from "../../src/adapter.ts";
import { serve } from "../../src/runtime/serve.ts";
import { createKey, createServerHandler, openServerStore, type ServerHandler, type ServerHandlerOptions, type ServerLimits, type ServerStore } from "../../src/server/index.ts";
import { tempDir } from "./tmp.ts";

export interface TestServer {
  /** Base URL, `http://127.0.0.1:<port>`. */
  url: string;
  /** An API key of `tenant`. */
  key: string;
  /** The tenant's name. */
  tenant: string;
  /** The server store (to create more tenants and keys, or run gc). */
  store: ServerStore;
  /** The handler (open event streams: `handler.openStreams()`). */
  handler: ServerHandler;
  /** Stops listening, closes the store and removes the temp dir it made. */
  stop(): Promise<void>;
}

/**
 * An in-process server on 127.0.0.1:0 over a fresh SQLite file (in `dir`, or a new temp dir),
 * with tenant `test` and one key. Rate limiting is off unless `limits.rate` is given.
 * `adapter` serves another store (the PostgreSQL suite passes its own).
 */
export async function startServer(
  opts: { dir?: string; limits?: Partial<ServerLimits>; adapter?: StowageAdapter; now?: () => number; events?: ServerHandlerOptions["events"]; idleTimeoutSeconds?: number; rules?: ServerHandlerOptions["rules"] } = {},
): Promise<TestServer> {
  const tmp = opts.dir || opts.adapter ? undefined : tempDir("stowage-server-");
  const dir = opts.dir ?? tmp?.path ?? "";
  const adapter = opts.adapter ?? createBunSqliteAdapter({ path: join(dir, "server.db") });
  const store = await openServerStore({ adapter });
  const tenant = `test-${Math.random().toString(36).slice(2, 8)}`;
  const { key } = await createKey(store, tenant, { createIfMissing: true });
  const handler = createServerHandler({ store, limits: { rate: false, ...opts.limits }, now: opts.now, events: opts.events, rules: opts.rules });
  const server = await serve({ fetch: handler, port: 0, idleTimeoutSeconds: opts.idleTimeoutSeconds });
  return {
    url: server.url,
    key,
    tenant,
    store,
    handler,
    stop: async () => {
      await server.stop();
      await store.close();
      tmp?.cleanup();
    },
  };
}

export interface SpawnedServer {
  /** Base URL of the child's listener. */
  url: string;
  /** An API key stored in the database file (the same one on every spawn over that file). */
  key: string;
  /** The child process. */
  proc: Subprocess;
  /** Kills the child (SIGKILL by default) and waits for it to exit. */
  kill(signal?: "SIGKILL" | "SIGTERM"): Promise<void>;
}

const FIXTURE = join(import.meta.dir, "../fixtures/server-process.ts");
const keysByDb = new Map<string, string>();

/**
 * A real server child process over `dbPath`, printing its URL when ready. The first spawn on
 * a file creates tenant `test` and a key in it; later spawns on the same path reuse that key,
 * so a restarted server (same path, same port) keeps serving the same clients.
 */
export async function spawnServer(opts: { dbPath: string; port?: number }): Promise<SpawnedServer> {
  let key = keysByDb.get(opts.dbPath);
  if (!key) {
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: opts.dbPath }) });
    try {
      key = (await createKey(store, "test", { createIfMissing: true, label: "spawnServer" })).key;
    } finally {
      await store.close();
    }
    keysByDb.set(opts.dbPath, key);
  }
  const proc = Bun.spawn([process.execPath, FIXTURE, opts.dbPath, String(opts.port ?? 0)], { stdout: "pipe", stderr: "inherit" });
  const url = await readUrl(proc);
  return {
    url,
    key,
    proc,
    kill: async (signal = "SIGKILL") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await proc.exited;
    },
  };
}

/** Waits for a server child process to print its `{"url"}` line; kills it after 20 s of silence. */
export async function readUrl(proc: Subprocess<"ignore" | "pipe", "pipe", "inherit" | "pipe">): Promise<string> {
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`server process exited before it was ready (exit ${await proc.exited})`);
      text += new TextDecoder().decode(value);
      const nl = text.indexOf("\n");
      if (nl >= 0) return (JSON.parse(text.slice(0, nl)) as { url: string }).url;
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
}
