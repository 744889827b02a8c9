import { expect } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { serve } from "../../src/runtime/serve.ts";
import { createKey, createServerHandler, openServerStore, type ServerHandler, type ServerHandlerOptions, type ServerStore } from "../../src/server/index.ts";
import type { Stowage } from "../../src/stowage.ts";
import type { StowageAdapter } from "../../src/adapter.ts";
import { openClient } from "../sync/clients.ts";
import { tempDir } from "../helpers/tmp.ts";

export interface EmbeddedServer {
  /** Root URL of the listener (add `basePath` for clients). */
  url: string;
  /** A write key of tenant `acme`. */
  key: string;
  store: ServerStore;
  /** The handler served (its stream counters). */
  handler: ServerHandler;
  /** Fresh file paths in this server's temp dir. */
  file(name: string): string;
  /** Closes every client opened through `client()`, the listener and the store. */
  stop(): Promise<void>;
  /** A hybrid client (bun-sqlite) on its own file, syncing when told. */
  client(name: string, url: string, apiKey: string): Promise<Stowage>;
}

/**
 * A server over a fresh SQLite file (or `adapter`, e.g. PostgreSQL) with the given handler
 * options, on 127.0.0.1:0, rate limit off.
 */
export async function startEmbedded(options: Partial<Omit<ServerHandlerOptions, "store">> = {}, adapter?: StowageAdapter): Promise<EmbeddedServer> {
  const tmp = tempDir("stowage-embed-");
  const store = await openServerStore({ adapter: adapter ?? createBunSqliteAdapter({ path: tmp.file("server.db") }) });
  const { key } = await createKey(store, "acme", { createIfMissing: true });
  const handler = createServerHandler({ limits: { rate: false }, ...options, store });
  const server = await serve({ fetch: handler, port: 0 });
  const clients: Stowage[] = [];
  return {
    url: server.url,
    key,
    store,
    handler,
    file: tmp.file,
    async client(name, url, apiKey) {
      const c = await openClient(tmp.file(`${name}-${clients.length}.db`), url, apiKey);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) await c.close().catch(() => {});
      await server.stop();
      await store.close();
      tmp.cleanup();
    },
  };
}

/** A bare call with a bearer token; answers status and parsed JSON. */
export async function call(url: string, token: string | null, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/**
 * The end-to-end sync check every mount runs: two real clients (openStowage on bun-sqlite)
 * write, sync through `syncUrl` and read back each other's writes, a group and a delete included.
 */
export async function twoClientsConverge(open: (name: string) => Promise<Stowage>): Promise<void> {
  const a = await open("alice");
  const b = await open("bob");
  await a.collection("notes").put({ id: "n1", text: "from alice" });
  await a.transaction(async (tx) => {
    await tx.collection("notes").put({ id: "n2", text: "two" });
    await tx.collection("tags").put({ id: "t1", label: "mounted" });
  });
  expect((await a.sync()).pushed).toBe(3);
  await b.collection("notes").put({ id: "n3", text: "from bob" });
  await b.sync();
  expect((await b.collection("notes").list({ limit: 10 })).items).toEqual([
    { id: "n1", text: "from alice" },
    { id: "n2", text: "two" },
    { id: "n3", text: "from bob" },
  ]);
  expect(await b.collection("tags").get("t1")).toEqual({ id: "t1", label: "mounted" });
  await b.collection("notes").delete("n1");
  await b.collection("notes").patch("n2", { text: "two, edited" });
  await b.sync();
  await a.sync();
  expect((await a.collection("notes").list({ limit: 10 })).items).toEqual([
    { id: "n2", text: "two, edited" },
    { id: "n3", text: "from bob" },
  ]);
  expect((await a.status()).outbox.size).toBe(0);
  expect(await a.issues()).toEqual([]);
  expect(await b.issues()).toEqual([]);
}
