import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { tempDir } from "../helpers/tmp.ts";
import { cli, ndjson } from "./run.ts";

const tmp = tempDir("stowage-cli-");
afterAll(() => tmp.cleanup());

describe("local commands", () => {
  const db = tmp.file("local.db");
  const run = (...args: string[]) => cli([...args, "--db", db]);

  test("put prints the id; --json prints the stored document", async () => {
    const a = await run("put", "todos", '{"title":"milk","done":false,"p":1}', "--id", "t1");
    expect(a).toEqual({ code: 0, stdout: "t1\n", stderr: "" });
    const b = await run("put", "todos", '{"title":"eggs","done":true,"p":3}', "--json");
    expect(b.code).toBe(0);
    const [doc] = ndjson(b.stdout);
    expect(doc.title).toBe("eggs");
    expect(doc.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("put reads @file.json and stdin; an array is written in one go", async () => {
    writeFileSync(tmp.file("t2.json"), '{"id":"t2","title":"bread","done":false,"p":2}');
    expect((await run("put", "todos", `@${tmp.file("t2.json")}`)).stdout).toBe("t2\n");
    const many = await cli(["put", "notes", "-", "--db", db, "--json"], { stdin: '[{"id":"n1","text":"a"},{"id":"n2","text":"b"}]' });
    expect(many.code).toBe(0);
    expect(ndjson(many.stdout).map((d) => d.id)).toEqual(["n1", "n2"]);
  });

  test("get prints the document; --json is one line", async () => {
    const people = await run("get", "todos", "t1");
    expect(JSON.parse(people.stdout)).toEqual({ title: "milk", done: false, p: 1, id: "t1" });
    const json = await run("get", "todos", "t1", "--json");
    expect(json.stdout).toBe('{"title":"milk","done":false,"p":1,"id":"t1"}\n');
  });

  test("patch merges fields, null removes one", async () => {
    const r = await run("patch", "todos", "t1", '{"done":true,"p":null,"tag":"x"}', "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ title: "milk", done: true, id: "t1", tag: "x" });
  });

  test("list: filters, order, limit, NDJSON, table, collections", async () => {
    const filtered = ndjson((await run("list", "todos", "--where", "done=false", "--json")).stdout);
    expect(filtered.map((d) => d.id)).toEqual(["t2"]);
    const ordered = ndjson((await run("list", "todos", "--where", "p>=2", "--order", "-p", "--json")).stdout);
    expect(ordered.map((d) => d.p)).toEqual([3, 2]);
    const limited = await run("list", "todos", "--limit", "2", "--json");
    expect(ndjson(limited.stdout)).toHaveLength(2);
    expect(limited.stderr).toMatch(/^more: --cursor \S+/);
    const cursor = limited.stderr.split(" ")[2].trim();
    expect(ndjson((await run("list", "todos", "--cursor", cursor, "--json")).stdout)).toHaveLength(1);
    expect(ndjson((await run("list", "todos", "--all", "--json")).stdout)).toHaveLength(3);
    const table = (await run("list", "todos")).stdout.split("\n");
    expect(table[0]).toMatch(/^ID\s+TITLE/);
    expect(table.filter((l) => l.includes("milk"))).toHaveLength(1);
    expect(ndjson((await run("list", "--json")).stdout)).toEqual([
      { collection: "notes", count: 2 },
      { collection: "todos", count: 3 },
    ]);
  });

  test("rm deletes; get then exits 4", async () => {
    const r = await run("rm", "notes", "n1", "--json");
    expect(ndjson(r.stdout)).toEqual([{ id: "n1", existed: true }]);
    const gone = await run("get", "notes", "n1");
    expect(gone.code).toBe(4);
    expect(gone.stderr).toContain("notes/n1 not found");
  });

  test("--version and --help on every command", async () => {
    const v = await cli(["--version"]);
    expect(v.stdout).toMatch(/^stowage \d+\.\d+\.\d+\n$/);
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    for (const name of ["put", "patch", "get", "list", "rm", "export", "import"]) {
      expect(help.stdout).toContain(`  ${name} `);
      const h = await cli([name, "--help"]);
      expect(h.code).toBe(0);
      expect(h.stdout).toStartWith(`usage: stowage ${name}`);
      expect(h.stdout).toContain("--db PATH");
    }
  });

  test("STOWAGE_DB mirrors --db; the default lives in XDG_DATA_HOME", async () => {
    const viaEnv = await cli(["get", "todos", "t2", "--json"], { env: { STOWAGE_DB: db } });
    expect(JSON.parse(viaEnv.stdout).id).toBe("t2");
    const xdg = tmp.file("xdg");
    expect((await cli(["put", "c", '{"id":"a"}'], { env: { XDG_DATA_HOME: xdg } })).code).toBe(0);
    expect((await cli(["get", "c", "a", "--db", `${xdg}/stowage/stowage.db`, "--json"])).stdout).toBe('{"id":"a"}\n');
  });
});
