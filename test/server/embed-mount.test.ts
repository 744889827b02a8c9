/**
 * The handler mounted under /sync beside an application's own routes, through each example
 * in docs/examples: Hono and Bun.serve in this process, a Node `http` server and Deno.serve
 * as child processes. Each runs the same two-client sync.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createKey, createServerHandler, openServerStore } from "../../src/server/index.ts";
import { createApp } from "../../docs/examples/hono.ts";
import { serveApp } from "../../docs/examples/bun-serve.ts";
import { readUrl } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { openClient } from "../sync/clients.ts";
import { call, twoClientsConverge } from "./embed-helpers.ts";
import type { Stowage } from "../../src/stowage.ts";

const ROOT = join(import.meta.dir, "../..");
const tmp = tempDir("stowage-mount-");
const clients: Stowage[] = [];
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  tmp.cleanup();
});

/** The two-client sync through `root`/sync, and the app's routes still answering beside it. */
async function checkMount(name: string, root: string, key: string): Promise<void> {
  await twoClientsConverge(async (who) => {
    const c = await openClient(tmp.file(`${name}-${who}.db`), `${root}/sync`, key);
    clients.push(c);
    return c;
  });
  expect(await call(root, null, "GET", "/")).toEqual({ status: 200, json: { app: "my backend", sync: "/sync" } });
  expect(await call(root, null, "GET", "/api/hello")).toEqual({ status: 200, json: { hello: "world" } });
  expect(await call(root, null, "GET", "/sync/v1/health")).toMatchObject({ status: 200, json: { ok: true, protocol: 1 } });
  // Outside the mount the app answers, not Stowage; inside it, unknown paths are Stowage's 404.
  expect((await call(root, key, "GET", "/v1/pull")).status).toBe(404);
  expect(await call(root, key, "GET", "/sync/v2/nothing")).toMatchObject({ status: 404, json: { error: { code: "not_found" } } });
  expect((await call(root, null, "GET", "/sync/v1/pull")).status).toBe(401);
}

/** A store file holding tenant `acme` and a key, for a child process to serve. */
async function seededDb(name: string): Promise<{ path: string; key: string }> {
  const path = tmp.file(`${name}-server.db`);
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path }) });
  try {
    return { path, key: (await createKey(store, "acme", { createIfMissing: true })).key };
  } finally {
    await store.close();
  }
}

/** Runs an example as a child process and checks the mount through it; SIGKILLs it after. */
async function checkChild(name: string, argv: string[]): Promise<void> {
  const { path, key } = await seededDb(name);
  const proc = Bun.spawn(argv, { cwd: ROOT, env: { ...process.env, STOWAGE_SERVER_DB: path, PORT: "0", NO_COLOR: "1" }, stdout: "pipe", stderr: "inherit" });
  try {
    await checkMount(name, await readUrl(proc), key);
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

describe("mounted under /sync", () => {
  test("in a Hono app (docs/examples/hono.ts)", async () => {
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: tmp.file("hono-server.db") }) });
    const { key } = await createKey(store, "acme", { createIfMissing: true });
    const app = createApp(createServerHandler({ store, basePath: "/sync" }));
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
    try {
      await checkMount("hono", `http://127.0.0.1:${server.port}`, key);
    } finally {
      await server.stop(true);
      await store.close();
    }
  });

  test("in a Bun.serve app (docs/examples/bun-serve.ts)", async () => {
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: tmp.file("bun-server.db") }) });
    const { key } = await createKey(store, "acme", { createIfMissing: true });
    const server = serveApp(createServerHandler({ store, basePath: "/sync" }));
    try {
      await checkMount("bun", `http://127.0.0.1:${server.port}`, key);
    } finally {
      await server.stop(true);
      await store.close();
    }
  });

  test("in a Node http server (docs/examples/node-http.ts, run by node)", async () => {
    await checkChild("node", [join(ROOT, "node_modules/.bin/node"), "--disable-warning=ExperimentalWarning", "docs/examples/node-http.ts"]);
  }, 30_000);

  test("in a Deno.serve app (docs/examples/deno-serve.ts, run by deno)", async () => {
    await checkChild("deno", [join(ROOT, "node_modules/.bin/deno"), "run", "-A", "docs/examples/deno-serve.ts"]);
  }, 30_000);

  test("basePath is normalized and checked", () => {
    const store = { family: "sqlite" } as never;
    expect(() => createServerHandler({ store, basePath: "sync" })).toThrow(/invalid basePath "sync"/);
    expect(() => createServerHandler({ store, basePath: "/a b" })).toThrow(/invalid basePath/);
    expect(() => createServerHandler({ store, basePath: "/sync/" })).not.toThrow();
  });
});
