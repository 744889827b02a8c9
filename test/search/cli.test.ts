import { afterAll, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { Store } from "../../src/store/store.ts";
import { cli, ndjson } from "../cli/run.ts";
import { tempDir } from "../helpers/tmp.ts";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

test("stowage search: ranked hits with snippets, JSON lines, field choice, errors", async () => {
  const db = ["--db", tmp.file("cli.db")];
  expect((await cli(["put", "memories", '{"id":"m1","title":"Release notes","content":"The release train leaves on Tuesday"}', ...db])).code).toBe(0);
  expect((await cli(["put", "memories", '{"id":"m2","content":"Tuesday standup moved","tags":["meeting"]}', ...db])).code).toBe(0);

  const plain = await cli(["search", "memories", "release", "tuesday", ...db]);
  expect(plain).toMatchObject({ code: 0, stderr: "" });
  expect(plain.stdout).toMatch(/^m1 {2}\d+\.\d\d {2}The \*\*release\*\* train leaves on \*\*Tuesday\*\*\n$/);

  const json = await cli(["search", "memories", "tuesday", "--json", ...db]);
  const hits = ndjson(json.stdout);
  expect(hits.map((h) => h.id).sort()).toEqual(["m1", "m2"]);
  expect(hits.find((h) => h.id === "m2").doc).toEqual({ id: "m2", content: "Tuesday standup moved", tags: ["meeting"] });

  expect(ndjson((await cli(["search", "memories", "meeting", "--json", ...db])).stdout).map((h) => h.id)).toEqual(["m2"]);
  expect(ndjson((await cli(["search", "memories", "release", "standup", "--any", "--json", ...db])).stdout).map((h) => h.id).sort()).toEqual(["m1", "m2"]);

  const none = await cli(["search", "memories", "nothing-like-this", ...db]);
  expect(none).toMatchObject({ code: 0, stdout: "" });
  expect(none.stderr).toBe('no documents in memories match "nothing-like-this"\n');

  const hostile = await cli(["search", "memories", 'release" OR NEAR(', ...db]);
  expect(hostile.code).toBe(0);

  const noWords = await cli(["search", "memories", "***", ...db]);
  expect(noWords.code).toBe(3);
  expect(noWords.stderr).toBe('stowage: search query "***" has no words to search for\n');
  expect((await cli(["search", "memories", ...db])).code).toBe(2);
  const badField = await cli(["search", "memories", "x", "--fields", "title,no-such!", ...db]);
  expect(badField.code).toBe(3);
  expect(badField.stderr).toContain('invalid field name "no-such!"');
});

test("stowage search uses the fields an application's index was built for", async () => {
  const path = tmp.file("app.db");
  const store = await Store.open({ adapter: createBunSqliteAdapter({ path }) });
  const notes = store.collection("notes", { search: ["body"] });
  await notes.put({ id: "n1", title: "ignored words", body: "kept words about otters" });
  expect((await notes.search("otters")).hits.map((h) => h.id)).toEqual(["n1"]);
  await store.close();

  const db = ["--db", path];
  expect(ndjson((await cli(["search", "notes", "otters", "--json", ...db])).stdout).map((h) => h.id)).toEqual(["n1"]);
  expect((await cli(["search", "notes", "ignored", "--json", ...db])).stdout).toBe("");
  // Asking for other fields rebuilds the index for them.
  expect(ndjson((await cli(["search", "notes", "ignored", "--fields", "title", "--json", ...db])).stdout).map((h) => h.id)).toEqual(["n1"]);
});
