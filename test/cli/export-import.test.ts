import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { Store } from "../../src/store/store.ts";
import { tempDir } from "../helpers/tmp.ts";
import { BIN, cli, ndjson } from "./run.ts";

const tmp = tempDir("stowage-cli-io-");
afterAll(() => tmp.cleanup());

/** Every stored body, exactly as bytes in the database, keyed by collection/id. */
async function bodies(path: string): Promise<Map<string, string>> {
  const store = await Store.open({ adapter: createBunSqliteAdapter({ path }) });
  const rows = await store.transaction((tx) => tx.sql<{ collection: string; id: string; body: string }>("select collection, id, body from _stowage_docs"));
  await store.close();
  return new Map(rows.map((r) => [`${r.collection}/${r.id}`, r.body]));
}

test("export then import into a fresh database reproduces every document byte for byte", async () => {
  const src = tmp.file("src.db");
  const store = await Store.open({ adapter: createBunSqliteAdapter({ path: src }) });
  const awkward = [
    { id: "u", text: "ünïcödé ✓ 𝄞 \u2028 line\nbreak \"quoted\" \\ back", n: 1.5e-7, big: 9007199254740991, neg: -0.1 },
    { id: "nested", a: { b: { c: [1, { d: null }, "x"] } }, empty: {}, list: [] },
    { id: "order", z: 1, a: 2, m: 3 },
  ];
  await store.collection("odd").putMany(awkward);
  const many = Array.from({ length: 2500 }, (_, i) => ({ id: `d${String(i).padStart(5, "0")}`, i, title: `doc ${i}`, done: i % 3 === 0 }));
  await store.collection("bulk").putMany(many);
  await store.collection("a_first").put({ id: "only", v: true });
  await store.close();

  const out = tmp.file("dump.ndjson");
  const exp = await cli(["export", "--db", src, "--out", out]);
  expect(exp.code).toBe(0);
  expect(exp.stderr).toBe(`exported 2504 documents to ${out}\n`);
  const lines = ndjson(readFileSync(out, "utf8"));
  expect(lines).toHaveLength(2504);
  expect(lines[0]).toEqual({ collection: "a_first", doc: { id: "only", v: true } });

  const dst = tmp.file("dst.db");
  const imp = await cli(["import", out, "--db", dst, "--json"]);
  expect(imp.code).toBe(0);
  expect(JSON.parse(imp.stdout)).toEqual({ imported: 2504 });

  const a = await bodies(src);
  const b = await bodies(dst);
  expect(b.size).toBe(2504);
  expect([...b.entries()].sort()).toEqual([...a.entries()].sort());
  // And the second export is the same bytes as the first.
  expect((await cli(["export", "--db", dst])).stdout).toBe(readFileSync(out, "utf8"));
});

test("export of chosen collections to stdout; import of bare documents from stdin", async () => {
  const db = tmp.file("two.db");
  await cli(["put", "x", '[{"id":"1"},{"id":"2"}]', "--db", db]);
  await cli(["put", "y", '{"id":"3"}', "--db", db]);
  const only = await cli(["export", "y", "--db", db]);
  expect(only.stdout).toBe('{"collection":"y","doc":{"id":"3"}}\n');
  const r = await cli(["import", "-", "--collection", "z", "--db", db], { stdin: '{"id":"a","k":1}\n\n{"id":"b","k":2}\n' });
  expect(r.code).toBe(0);
  expect(ndjson((await cli(["list", "z", "--json", "--db", db])).stdout)).toEqual([{ id: "a", k: 1 }, { id: "b", k: 2 }]);
  writeFileSync(tmp.file("unused"), "");
});

test("export into a pipe closed early (| head) stops quietly", async () => {
  const db = tmp.file("src.db"); // 2,504 documents from the first test: more than a pipe buffer
  const p = Bun.spawn(["sh", "-c", `"${process.execPath}" "${BIN}" export --db "${db}" | head -n 1; echo "exit \${PIPESTATUS:-0}"`], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  expect(code).toBe(0);
  expect(out.split("\n")[0]).toBe('{"collection":"a_first","doc":{"id":"only","v":true}}');
  expect(err).toBe("");
});
