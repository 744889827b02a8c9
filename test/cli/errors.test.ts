import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { tempDir } from "../helpers/tmp.ts";
import { cli } from "./run.ts";

const tmp = tempDir("stowage-cli-err-");
const db = tmp.file("e.db");
let before = "";

/** Everything in the database, to show a refused command changed nothing. */
const snapshot = async () => (await cli(["export", "--db", db])).stdout;

beforeAll(async () => {
  await cli(["put", "todos", '{"id":"t1","title":"keep me"}', "--db", db]);
  before = await snapshot();
  expect(before).toContain("keep me");
});
afterAll(() => tmp.cleanup());

describe("bad input: clear stderr, non-zero exit, nothing changed", () => {
  const cases: [string, string[], number, RegExp, string?][] = [
    ["unknown command", ["frobnicate"], 2, /unknown command "frobnicate"/],
    ["unknown flag", ["put", "todos", "{}", "--colour"], 2, /unknown flag "--colour"/],
    ["missing argument", ["put", "todos"], 2, /missing argument: usage: put <collection>/],
    ["extra argument", ["get", "todos", "t1", "t2"], 2, /unexpected argument "t2"/],
    ["flag without value", ["list", "todos", "--limit"], 2, /--limit needs a value/],
    ["non-numeric flag", ["list", "todos", "--limit", "ten"], 2, /--limit must be a number, got "ten"/],
    ["invalid JSON argument", ["put", "todos", '{"title":'], 3, /invalid JSON for todos document in argument "\{\\"title\\":"/],
    ["invalid JSON on stdin", ["put", "todos", "-"], 3, /invalid JSON for todos document in stdin/, "{nope"],
    ["JSON that is not an object", ["put", "todos", "[1,2]"], 3, /must be a JSON object, got 1/],
    ["missing file", ["put", "todos", "@/no/such/file.json"], 3, /cannot read "\/no\/such\/file.json": no such file/],
    ["invalid collection name", ["put", "Todos!", "{}"], 3, /invalid collection name "Todos!"/],
    ["invalid id", ["put", "todos", "{}", "--id", "a/b"], 3, /invalid document id "a\/b"/],
    ["one invalid id among several rm", ["rm", "todos", "t1", "../x"], 3, /invalid document id "..\/x"/],
    ["patch of a missing document", ["patch", "todos", "nope", "{}"], 3, /document todos\/nope not found/],
    ["bad --where", ["list", "todos", "--where", "title"], 3, /invalid --where "title"/],
    ["bad env value", ["list", "todos"], 2, /STOWAGE_SYNC_DISABLE must be true or false/],
    ["import of a missing file", ["import", "/no/such.ndjson"], 3, /cannot read "\/no\/such.ndjson": no such file/],
  ];
  for (const [name, args, code, message, stdin] of cases) {
    test(name, async () => {
      const env = name === "bad env value" ? { STOWAGE_SYNC_DISABLE: "maybe" } : undefined;
      const r = await cli([...args, "--db", db], { stdin, env });
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toStartWith("stowage: ");
      expect(r.code).toBe(code);
      expect(r.stdout).toBe("");
      expect(await snapshot()).toBe(before);
    });
  }

  test("import with a bad line in the middle of a file writes nothing", async () => {
    const file = tmp.file("bad.ndjson");
    writeFileSync(file, ['{"collection":"todos","doc":{"id":"i1"}}', '{"collection":"todos","doc":{"id":"i2"}}', "{oops"].join("\n"));
    const r = await cli(["import", file, "--db", db]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`invalid JSON at line 3 of "${file}"`);
    expect(await snapshot()).toBe(before);
    writeFileSync(file, '{"collection":"Bad Name","doc":{"id":"i1"}}\n');
    const named = await cli(["import", file, "--db", db]);
    expect(named.stderr).toContain('line 1 of');
    expect(named.stderr).toContain('invalid collection name "Bad Name"');
    expect(await snapshot()).toBe(before);
    expect(readFileSync(file, "utf8")).toContain("Bad Name");
  });
});

test("with --json, errors are one JSON line on stderr", async () => {
  const r = await cli(["get", "todos", "missing", "--db", db, "--json"]);
  expect(r.code).toBe(4);
  expect(r.stdout).toBe("");
  expect(JSON.parse(r.stderr)).toEqual({ error: { code: "not_found", exit: 4, message: `document todos/missing not found in ${db}` } });
  const usage = await cli(["get", "--bogus", "--json"]);
  expect(JSON.parse(usage.stderr).error).toMatchObject({ code: "usage", exit: 2 });
  const bad = await cli(["put", "No", "{}", "--json", "--db", db]);
  expect(JSON.parse(bad.stderr).error).toMatchObject({ code: "input", exit: 3 });
});
