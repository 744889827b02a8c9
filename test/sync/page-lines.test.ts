import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import { linedPage } from "../../src/sync/v1/page-lines.ts";
import { parsePage } from "../../src/sync/v1/pull.ts";
import { spawnServer, type SpawnedServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";

/** A page as the server writes it (src/server/pull.ts): one change per line. */
function page(lines: string[], cursor = "v1.3", more = true): string {
  return `{"changes":[\n${lines.join(",\n")}\n],"cursor":"${cursor}","more":${more}}`;
}
const live = (id: string, version: number, value: string) => `{"collection":"docs","id":"${id}","version":${version},"value":${value},"deleted":false}`;
const dead = (id: string, version: number) => `{"collection":"docs","id":"${id}","version":${version},"value":null,"deleted":true}`;

describe("linedPage (a pull page read by lines)", () => {
  test("gives each value's text as sent, the same values JSON.parse reads, and the page's cursor", () => {
    const text = page([live("a", 1, '{"id":"a","s":"x,\\"deleted\\":false}"}'), dead("b", 2), live("c", 3, '{"id":"c", "n": [1, {"k": null}]}')]);
    const lined = linedPage(text);
    expect(lined).not.toBeNull();
    expect(lined!.changes).toEqual([
      { collection: "docs", id: "a", version: 1, body: '{"id":"a","s":"x,\\"deleted\\":false}"}' },
      { collection: "docs", id: "b", version: 2, body: "" },
      { collection: "docs", id: "c", version: 3, body: '{"id":"c", "n": [1, {"k": null}]}' },
    ]);
    expect([lined!.deletes, lined!.cursor, lined!.more, lined!.collections]).toEqual([1, "v1.3", true, ["docs"]]);
    const parsed = parsePage(text);
    if (parsed.reset) throw new Error("unexpected reset");
    expect(lined!.changes.map((c) => (c.body === "" ? null : JSON.parse(c.body)))).toEqual(parsed.changes.map((c) => c.value));
  });

  test("anything else is left to JSON.parse (null): other layouts, resets, bad names, non-objects, broken lines", () => {
    const ok = live("a", 1, '{"id":"a"}');
    const bad = [
      `{"changes":[${ok}],"cursor":"v1.1","more":false}`, // an older server's single line
      '{"reset":true}',
      `{"changes":[\n],"cursor":"v1.1","more":false}`,
      page([ok.replace('"docs"', '"Docs"')]), // collection name rule
      page([ok.replace('"id":"a"', '"id":".."')]),
      page([ok.replace('"id":"a"', '"id":"a/b"')]),
      page([live("a", 1, "[1]")]),
      page([live("a", 1, '"text"')]),
      page([ok.replace('"deleted":false', '"deleted":0')]),
      page([ok, ok]).replace(",\n{", "\n{"), // a missing comma
      `{"changes":[\n${ok},\n],"cursor":"v1.1","more":false}`, // a trailing one
      page([ok]) + "x",
      page([ok]).replace("\n]", "]"),
      page([`{"collection":"docs","id":"a","version":1.5,"value":{},"deleted":false}`]),
    ];
    for (const text of bad) expect(linedPage(text)).toBeNull();
  });
});

describe("the line layout between a real server and client", () => {
  let server: SpawnedServer | undefined;
  const open: Stowage[] = [];
  const dir = tempDir("stowage-page-lines-");
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close();
    await server?.kill("SIGTERM");
    server = undefined;
  });

  test("a multi-page initial pull stores every value, a body with line breaks and deletes included", async () => {
    const path = dir.file("server.db");
    server = await spawnServer({ dbPath: path });
    const seeder = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file("seeder.db") }), url: server.url, apiKey: server.key, env: {}, autoSync: false });
    open.push(seeder);
    for (let i = 0; i < 25; i++) await seeder.collection("docs").put({ id: `d${i}`, n: i, s: `line\nbreak ${i}` });
    await seeder.collection("docs").delete("d3");
    await seeder.sync();
    // A body written by another tool, pretty-printed: raw line breaks between its tokens.
    const db = new Database(path);
    db.exec("pragma busy_timeout = 10000");
    db.query("update stowage_docs set body = ? where id = 'd7'").run('{\n  "id": "d7",\n  "n": 7,\r\n  "s": "a\\nb"\n}');
    db.close();

    const res = await fetch(`${server.url}/v1/pull?limit=10`, { headers: { authorization: `Bearer ${server.key}` } });
    const text = await res.text();
    expect(text.startsWith('{"changes":[\n')).toBe(true);
    expect(text.split("\n")).toHaveLength(12); // the opening, ten changes, the closing
    expect(linedPage(text)!.changes.find((c) => c.id === "d7")!.body).toBe('{   "id": "d7",   "n": 7,\r   "s": "a\\nb" }');

    const client = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file("client.db") }), url: server.url, apiKey: server.key, env: {}, autoSync: false, pullLimit: 10 });
    open.push(client);
    expect((await client.sync()).pulled).toBe(25);
    const docs = (await client.collection("docs").list({ limit: 100 })).items;
    expect(docs.map((d) => d.id).sort()).toEqual(Array.from({ length: 25 }, (_, i) => `d${i}`).filter((id) => id !== "d3").sort());
    for (const d of docs) expect(d).toEqual(d.id === "d7" ? { id: "d7", n: 7, s: "a\nb" } : { id: d.id, n: Number(d.id.slice(1)), s: `line\nbreak ${d.id.slice(1)}` });
  });
});
