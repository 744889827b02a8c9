// An application that installed the packed `stowage` tarball: plain JavaScript, run by
// test/runtimes/package.ts under Node 24 and Deno 2. Prints `N passed, N failed`.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const runtime = typeof globalThis.Deno !== "undefined" ? "deno" : "node";
const loaded = [];
if (runtime === "node") {
  // Record what Node resolves, to show an app on one adapter never loads another's driver.
  const { registerHooks } = await import("node:module");
  registerHooks({
    resolve(specifier, context, next) {
      const result = next(specifier, context);
      loaded.push(result.url);
      return result;
    },
  });
}

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n     ${e?.stack ?? e}`);
  }
}
function equal(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

const dir = mkdtempSync(join(tmpdir(), "stowage-consumer-"));
try {
  await check("`stowage` and `stowage/node-sqlite` load from the package's JavaScript and store a document", async () => {
    const { Store } = await import("stowage");
    const { createNodeSqliteAdapter } = await import("stowage/node-sqlite");
    const store = await Store.open({ adapter: createNodeSqliteAdapter({ path: join(dir, "node.db") }) });
    await store.collection("notes").put({ id: "n1", via: "node-sqlite" });
    equal(await store.collection("notes").get("n1"), { id: "n1", via: "node-sqlite" }, "n1");
    await store.close();
    if (!import.meta.resolve("stowage").includes("/lib/src/index.js")) throw new Error(`stowage resolved to ${import.meta.resolve("stowage")}`);
  });

  if (runtime === "node") {
    await check("an app on node-sqlite loaded no other adapter or driver", async () => {
      const foreign = loaded.filter((u) => /node_modules\/(@libsql|libsql|pg)\/|\/adapters\/(libsql|bun-sqlite|postgres)\/|^bun:/.test(u));
      equal(foreign, [], "foreign modules");
      if (!loaded.includes("node:sqlite")) throw new Error("node:sqlite was not loaded");
    });
  }

  await check("`stowage/libsql` stores a document in a local file", async () => {
    const { Store } = await import("stowage");
    const { createLibsqlAdapter } = await import("stowage/libsql");
    const store = await Store.open({ adapter: createLibsqlAdapter({ url: `file:${join(dir, "libsql.db")}` }) });
    await store.transaction(async (tx) => {
      await tx.collection("notes").put({ id: "l1", n: 1 });
      await tx.collection("notes").put({ id: "l2", n: 2 });
    });
    equal((await store.collection("notes").list({ where: { n: { gte: 2 } } })).items, [{ id: "l2", n: 2 }], "list");
    await store.close();
  });

  await check("`stowage/server` serves two clients (node-sqlite and libsql) through its web-standard handler", async () => {
    const { openStowage } = await import("stowage");
    const { createServerHandler, openServerStore, createKey } = await import("stowage/server");
    const { createNodeSqliteAdapter } = await import("stowage/node-sqlite");
    const { createLibsqlAdapter } = await import("stowage/libsql");
    const store = await openServerStore({ adapter: createNodeSqliteAdapter({ path: join(dir, "server.db") }) });
    const { key } = await createKey(store, "app", { createIfMissing: true });
    const handler = createServerHandler({ store, limits: { rate: false } });
    // No listener needed: the client's fetch goes straight to the handler.
    const fetch = (input, init) => handler(new Request(input, init));
    const a = await openStowage({ adapter: createNodeSqliteAdapter({ path: join(dir, "a.db") }), url: "http://app.invalid", apiKey: key, fetch, autoSync: false, env: {} });
    const b = await openStowage({ adapter: createLibsqlAdapter({ url: `file:${join(dir, "b.db")}` }), url: "http://app.invalid", apiKey: key, fetch, autoSync: false, env: {} });
    try {
      await a.collection("notes").put({ id: "from-a", n: 1 });
      await a.sync();
      await b.collection("notes").put({ id: "from-b", n: 2 });
      await b.sync();
      await a.sync();
      equal((await a.collection("notes").list()).items, [{ id: "from-a", n: 1 }, { id: "from-b", n: 2 }], "a's notes");
      equal((await b.collection("notes").list()).items, [{ id: "from-a", n: 1 }, { id: "from-b", n: 2 }], "b's notes");
    } finally {
      await a.close();
      await b.close();
      await store.close();
    }
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`${runtime} package: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
