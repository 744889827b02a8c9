import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { SignJWT } from "jose";
import { cli, startServe } from "../cli/run.ts";
import { tempDir } from "../helpers/tmp.ts";
import { loadRules } from "../../src/server/sync-rules/index.ts";
import { bindPrincipal } from "../../src/server/sync-rules/match.ts";

/**
 * The rules file (issue 34): every refusal the contract names exits 2 at startup with
 * `FILE:LINE: message`, before any side effect; a good file loads and means what it says.
 */
const tmp = tempDir("stowage-rules-file-");
afterAll(() => tmp.cleanup());

const GOOD = `# the contract's example
claims: sub, team, level:number
index todos: project, done
todos read: owner == auth.sub or shared == true
todos write: owner == auth.sub
notes read: team == auth.team
notes write: team == auth.team and level <= auth.level
* read: true
`;

/** [file text, the line, the message after "FILE:LINE: "]. */
const BAD: [string, number, string | RegExp][] = [
  ["claims: sub\ntodos read owner == auth.sub\n", 2, /^cannot parse "todos read owner == auth.sub"/],
  ["todos read: owner == \n", 1, "the expression ends too early"],
  ["todos read: (owner == auth.sub\n", 1, 'expected ) but found the end of the line'],
  ["todos read: owner = \"ann\"\n", 1, 'a single "=": compare with == (or != < <= > >=)'],
  ["\n\ntodos read: team == auth.team\n", 3, "unknown claim auth.team: declare it on the claims line (claims: sub, team)"],
  ["claims: level:number\ntodos read: n == 1\ntodos write: n == \"x\"\n", 3, 'incompatible types: n is compared with a number elsewhere and with "x" (a string) here'],
  ["claims: level:number\ntodos read: level == auth.level or level == \"top\"\n", 2, 'incompatible types: level is compared with a number elsewhere and with "top" (a string) here'],
  ["claims: team\ntodos read: auth.team == 3\n", 2, "incompatible types: auth.team is a string, 3 is a number"],
  ["Todos read: true\n", 1, 'unknown collection name pattern "Todos": use a collection name ([a-z][a-z0-9_]*) or *'],
  ["todos read: true\ntodos write: true\ntodos read: false\n", 3, "a second read rule for todos (the first is line 1): join them with or"],
  ["claims: level:float\n", 1, 'claims: unknown type "float" for level: use string, number or boolean'],
  ["todos read: owner == \"ann\n", 1, "a string literal is not closed"],
];

describe("serve --rules refuses a bad rules file with exit 2 and FILE:LINE", () => {
  test.each(BAD.map((c, i) => [i, ...c] as const))("case %d", async (i, text, line, message) => {
    const file = tmp.file(`bad-${i}.rules`);
    writeFileSync(file, text);
    const data = tmp.file(`bad-${i}/x.db`);
    const r = await cli(["serve", "--port", "0", "--data", data, "--rules", file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    const got = lines[0].replace(/^stowage: /, "");
    expect(got.startsWith(`${file}:${line}: `)).toBe(true);
    const rest = got.slice(`${file}:${line}: `.length);
    if (typeof message === "string") expect(rest).toBe(message);
    else expect(rest).toMatch(message);
    expect(existsSync(data)).toBe(false);
  });

  test("STOWAGE_RULES is read like --rules", async () => {
    const file = tmp.file("env.rules");
    writeFileSync(file, "todos read: x == auth.nope\n");
    const r = await cli(["serve", "--port", "0", "--data", tmp.file("env/x.db")], { env: { STOWAGE_RULES: file } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`stowage: ${file}:1: unknown claim auth.nope: declare it on the claims line (claims: sub, nope)`);
  });

  test("a missing rules file is a usage error naming it", async () => {
    const r = await cli(["serve", "--port", "0", "--data", tmp.file("missing/x.db"), "--rules", tmp.file("nope.rules")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nope.rules");
  });
});

describe("createServerHandler({ rules })", () => {
  test("a text that does not check throws a config error naming the line", async () => {
    const { createServerHandler, openServerStore } = await import("../../src/server/index.ts");
    const { createBunSqliteAdapter } = await import("../../adapters/bun-sqlite/index.ts");
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: tmp.file("embed.db") }) });
    try {
      expect(() => createServerHandler({ store, rules: "# ok\ntodos read: x == auth.who\n" })).toThrow("rules:2: unknown claim auth.who: declare it on the claims line (claims: sub, who)");
      const handler = createServerHandler({ store, rules: loadRules(GOOD) });
      await handler.ready();
      await handler.close();
    } finally {
      await store.close();
    }
  });
});

describe("a good rules file", () => {
  const rules = loadRules(GOOD, "good.rules");
  const ann = bindPrincipal(rules, { keyId: "id:t:ann", tenantId: "t", tenant: "acme", subject: "ann", scopes: ["read", "write"], claims: { sub: "ann", team: "red", level: 3 } });
  const noTeam = bindPrincipal(rules, { keyId: "k_0123456789abcdef", tenantId: "t", tenant: "acme", scopes: ["read", "write"] });

  test("reads and writes as written", () => {
    expect(ann.read("todos")({ id: "a", owner: "ann" })).toBe(true);
    expect(ann.read("todos")({ id: "b", owner: "bob", shared: true })).toBe(true);
    expect(ann.read("todos")({ id: "c", owner: "bob", shared: 1 })).toBe(false);
    expect(ann.write("todos")({ id: "b", owner: "bob", shared: true })).toBe(false);
    expect(ann.read("notes")({ id: "n", team: "red" })).toBe(true);
    expect(ann.write("notes")({ id: "n", team: "red", level: 3 })).toBe(true);
    expect(ann.write("notes")({ id: "n", team: "red", level: 4 })).toBe(false);
    // The wildcard reads; nothing writes an unlisted collection.
    expect(ann.read("misc")({ id: "m" })).toBe(true);
    expect(ann.write("misc")({ id: "m" })).toBe(false);
  });

  test("an API key's sub is its id; a missing claim matches nothing, not the documents missing the field", () => {
    expect(noTeam.read("todos")({ id: "a", owner: "k_0123456789abcdef" })).toBe(true);
    expect(noTeam.read("notes")({ id: "n" })).toBe(false);
    expect(noTeam.read("notes")({ id: "n", team: null })).toBe(false);
  });

  test("a byte order mark and CRLF line ends are fine", () => {
    const crlf = loadRules(`\uFEFF${GOOD.replace(/\n/g, "\r\n")}`, "crlf.rules");
    expect([...crlf.collections.keys()].sort()).toEqual(["*", "notes", "todos"]);
  });

  test("indexed fields: those the rules name and the index lines", () => {
    expect([...rules.collections.get("todos")!.indexed].sort()).toEqual(["done", "owner", "project", "shared"]);
  });
});

describe("serve --rules: a good file is enforced by the served process", () => {
  test("ann and bob of one tenant each read their own and the shared todos", async () => {
    const secret = "r".repeat(40);
    const file = tmp.file("served.rules");
    writeFileSync(file, GOOD);
    const server = await startServe(tmp.file("served/x.db"), { args: ["--rules", file, "--jwt-tenant-claim", "org", "--rate-limit", "off"], env: { STOWAGE_JWT_SECRET: secret } });
    try {
      const token = (sub: string) => new SignJWT({ sub, org: "acme", team: "red", level: 1 }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("10m").sign(new TextEncoder().encode(secret));
      const [ann, bob] = await Promise.all([token("ann"), token("bob")]);
      const req = (t: string, method: string, path: string, body?: unknown) =>
        fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${t}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      expect((await req(ann, "PUT", "/v1/docs/todos/a1", { owner: "ann" })).status).toBe(200);
      expect((await req(ann, "PUT", "/v1/docs/todos/a2", { owner: "ann", shared: true })).status).toBe(200);
      expect((await req(bob, "PUT", "/v1/docs/todos/b1", { owner: "bob" })).status).toBe(200);
      expect((await req(bob, "PUT", "/v1/docs/todos/a1", { owner: "bob" })).status).toBe(403);
      const pulled = async (t: string) => ((await (await req(t, "GET", "/v1/pull")).json()) as { changes: { id: string }[] }).changes.map((c) => c.id).sort();
      expect(await pulled(ann)).toEqual(["a1", "a2"]);
      expect(await pulled(bob)).toEqual(["a2", "b1"]);
    } finally {
      await server.stop();
    }
  });
});
