/**
 * `node test/runtimes/exports-node.ts`: an application importing `stowage` and
 * `stowage/node-sqlite` (through package.json `exports`, by the package's own name) works on
 * Node and never loads another adapter's driver. Records every module Node resolves.
 */
import { registerHooks } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const loaded: string[] = [];
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    loaded.push(result.url);
    return result;
  },
});

let failed = 0;
let passed = 0;
const check = (name: string, ok: boolean, detail = "") => {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : `\n     ${detail}`}`);
  ok ? passed++ : failed++;
};

const dir = mkdtempSync(join(tmpdir(), "stowage-exports-"));
try {
  const core = await import("stowage");
  const { createNodeSqliteAdapter } = await import("stowage/node-sqlite");
  const store = await core.Store.open({ adapter: createNodeSqliteAdapter({ path: join(dir, "app.db") }) });
  await store.collection("notes").put({ id: "x", via: "exports" });
  const back = await store.collection("notes").get("x");
  await store.close();
  check("stowage + stowage/node-sqlite open a store and round-trip a document", back?.id === "x" && back?.via === "exports", JSON.stringify(back));
  // Kysely's own (driverless) dialect files may load; drivers and other adapters must not.
  const foreign = loaded.filter((u) => /node_modules\/(@libsql|libsql|pg)\/|\/adapters\/(libsql|bun-sqlite|postgres)\/|^bun:/.test(u));
  check("no other adapter or driver was loaded", foreign.length === 0, foreign.join(", "));
  check("node:sqlite was loaded", loaded.includes("node:sqlite"), loaded.filter((u) => u.startsWith("node:")).join(", "));
} catch (e) {
  check("harness", false, (e as Error)?.stack ?? String(e));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`node exports: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
