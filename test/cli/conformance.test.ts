import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { createKey, openServerStore } from "../../src/server/index.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable } from "../helpers/pg.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { orderPullByTimestamp, reapplyDuplicates, startBroken } from "./broken-servers.ts";
import { spawnServe, type ServeChild } from "./ops-serve.ts";
import { cli } from "./run.ts";
import { tempDir } from "../helpers/tmp.ts";

const BASE_NAMES = ["health", "error-bodies", "idempotent-push", "paged-pull", "reset", "limits", "tenant-isolation", "subs-collection", "subs-unindexed", "subs-bad"];
/** Partial-sync checks that need two principals of one tenant under the kit's rules (skipped without). */
const RULES_NAMES = ["subs-filter", "subs-left", "rules-pull", "rules-docs", "rules-push", "rules-leave"];
const CHECK_NAMES = [...BASE_NAMES, ...RULES_NAMES];

/** The table's rows as [check, result]. */
function rows(stdout: string): [string, string][] {
  return stdout
    .split("\n")
    .map((l) => /^([a-z-]+)\s+(PASS|FAIL|SKIP)\s/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1], m[2]]);
}

function passesAgainst(name: string, start: () => Promise<TestServer>, cleanup: () => Promise<void> = async () => {}) {
  describe(`stowage conformance against the ${name} server`, () => {
    let s: TestServer;
    let keyB: string;
    beforeAll(async () => {
      s = await start();
      keyB = (await createKey(s.store, `other-${Math.random().toString(36).slice(2, 8)}`, { createIfMissing: true })).key;
    });
    afterAll(async () => {
      await s.stop();
      await cleanup();
    });

    test("every check passes (with a second tenant's key), exit 0", async () => {
      const r = await cli(["conformance", s.url, "--key", s.key, "--key-b", keyB]);
      expect(r.stderr).toBe("");
      expect(rows(r.stdout)).toEqual(CHECK_NAMES.map((n) => [n, RULES_NAMES.includes(n) ? "SKIP" : "PASS"]));
      expect(r.stdout).toContain("10 passed, 0 failed, 6 skipped");
      expect(r.code).toBe(0);
    }, 60_000);

    test("--json reports each check; without --key-b isolation is skipped with a note, still exit 0", async () => {
      const r = await cli(["conformance", s.url, "--json"], { env: { STOWAGE_API_KEY: s.key } });
      const report = JSON.parse(r.stdout);
      expect(report.results.map((x: any) => [x.name, x.status])).toEqual(CHECK_NAMES.map((n) => [n, n === "tenant-isolation" || RULES_NAMES.includes(n) ? "skip" : "pass"]));
      expect(report.results.find((x: any) => x.name === "tenant-isolation").detail).toBe("needs --key-b, a key of another tenant");
      expect([report.passed, report.failed, report.skipped]).toEqual([9, 0, 7]);
      expect(r.code).toBe(0);
    }, 60_000);
  });
}

passesAgainst("SQLite", () => startServer());

if (await pgAvailable("conformance kit against the PostgreSQL server")) {
  const schema = newSchemaName();
  passesAgainst("PostgreSQL", () => startServer({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 4 } }) }), () => dropSchema(schema));
} else {
  test.skip("stowage conformance against the PostgreSQL server (PostgreSQL unreachable)", () => {});
}

describe("stowage conformance against deliberately broken servers", () => {
  let base: TestServer;
  beforeAll(async () => (base = await startServer()));
  afterAll(() => base.stop());

  test("a server that reapplies duplicate op ids fails idempotent-push, exit 1", async () => {
    const broken = await startBroken(base, reapplyDuplicates);
    try {
      const r = await cli(["conformance", broken.url, "--key", base.key]);
      const table = Object.fromEntries(rows(r.stdout));
      expect(table["idempotent-push"]).toBe("FAIL");
      expect(r.stdout).toMatch(/idempotent-push\s+FAIL\s+resent push: expected 3 duplicate, got .*"status":"applied"/);
      expect(table["health"]).toBe("PASS");
      expect(table["paged-pull"]).toBe("PASS");
      expect(r.stdout).toContain("8 passed, 1 failed, 7 skipped");
      expect(r.code).toBe(1);
    } finally {
      await broken.stop();
    }
  }, 60_000);

  test("a server that orders pull by timestamp fails paged-pull, exit 1", async () => {
    const broken = await startBroken(base, orderPullByTimestamp);
    try {
      const r = await cli(["conformance", broken.url, "--key", base.key]);
      const table = Object.fromEntries(rows(r.stdout));
      expect(table["paged-pull"]).toBe("FAIL");
      expect(r.stdout).toMatch(/paged-pull\s+FAIL\s+pull is not in commit order: version \d+ \(conformance_[0-9a-f]+_pull\/d\d\d\) came after \d+/);
      expect(table["idempotent-push"]).toBe("PASS");
      expect(r.stdout).toContain("8 passed, 1 failed, 7 skipped");
      expect(r.code).toBe(1);
    } finally {
      await broken.stop();
    }
  }, 60_000);
});

describe("stowage conformance usage", () => {
  test("--help lists the checks and the exit codes", async () => {
    const r = await cli(["conformance", "--help"]);
    expect(r.code).toBe(0);
    for (const name of CHECK_NAMES) expect(r.stdout).toContain(name);
    expect(r.stdout).toContain("1 when a check failed, 5 when the server is unreachable");
  });

  test("no key is a usage error (2); an unreachable server is 5; an unknown check is 2", async () => {
    const noKey = await cli(["conformance", "http://127.0.0.1:9"]);
    expect([noKey.code, noKey.stderr]).toEqual([2, expect.stringContaining("conformance needs --key")]);
    const down = await cli(["conformance", "http://127.0.0.1:9", "--key", "k"]);
    expect([down.code, down.stderr]).toEqual([5, expect.stringContaining("http://127.0.0.1:9 is unreachable")]);
    const bad = await cli(["conformance", "http://127.0.0.1:9", "--key", "k", "--only", "nope"]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('unknown check "nope"')]);
  });
});

describe("stowage conformance: partial-sync rules checks (issue 34)", () => {
  const dir = tempDir("stowage-kit-rules-");
  let withRules: ServeChild;
  let without: ServeChild;
  let keys: { a: string; o: string; b: string };
  beforeAll(async () => {
    const made = async (file: string) => {
      const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dir.file(file) }) });
      try {
        return {
          a: (await createKey(store, "kit", { createIfMissing: true })).key,
          o: (await createKey(store, "kit")).key,
          b: (await createKey(store, "other", { createIfMissing: true })).key,
        };
      } finally {
        await store.close();
      }
    };
    const printed = await cli(["conformance", "--print-rules"]);
    expect(printed.code).toBe(0);
    writeFileSync(dir.file("rules.txt"), printed.stdout);
    keys = await made("rules.db");
    withRules = await spawnServe(dir.file("rules.db"), ["--rules", dir.file("rules.txt"), "--rate-limit", "off"]);
    await made("open.db");
    without = await spawnServe(dir.file("open.db"), ["--rate-limit", "off"]);
  });
  afterAll(async () => {
    await withRules?.signal("SIGTERM");
    await without?.signal("SIGTERM");
    dir.cleanup();
  });

  test("against stowage serve --rules (the kit's rules), with two principals of one tenant: all 16 pass", async () => {
    const r = await cli(["conformance", withRules.url, "--key", keys.a, "--key-b", keys.b, "--rules-key", keys.a, "--rules-key-other", keys.o]);
    expect(rows(r.stdout)).toEqual(CHECK_NAMES.map((n) => [n, "PASS"]));
    expect(r.stdout).toContain("16 passed, 0 failed, 0 skipped");
    expect(r.code).toBe(0);
  }, 60_000);

  test("a server that enforces no rules fails the rules checks: the other principal sees private documents", async () => {
    const keysOpen = await (async () => {
      const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dir.file("open.db") }) });
      try {
        return { a: (await createKey(store, "kit")).key, o: (await createKey(store, "kit")).key };
      } finally {
        await store.close();
      }
    })();
    const r = await cli(["conformance", without.url, "--key", keysOpen.a, "--rules-key", keysOpen.a, "--rules-key-other", keysOpen.o]);
    const table = Object.fromEntries(rows(r.stdout));
    for (const n of RULES_NAMES) expect([n, table[n]]).toEqual([n, "FAIL"]);
    expect(r.stdout).toMatch(/rules-docs\s+FAIL\s+the other principal's GET answered 200/);
    expect(r.stdout).toMatch(/rules-push\s+FAIL\s+overwriting another's private document: expected rejected\/forbidden, got .*"applied"/);
    expect(r.code).toBe(1);
  }, 60_000);
});
