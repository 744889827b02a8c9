import { expect, test } from "bun:test";
import pkg from "../../package.json" with { type: "json" };
import { PROTOCOL_VERSION } from "../../src/protocol/wire.ts";
import { serverSchemaVersion } from "../../src/server/schema.ts";
import { localSchemaVersion } from "../../src/store/migrations.ts";
import { cli } from "../cli/run.ts";

// The compiled executable's answer (commit, target, libsql embedded) is checked in test/cli/binary.test.ts.
test("stowage version --json from source: version, protocols, schema versions; no commit or target of its own", async () => {
  const r = await cli(["version", "--json"]);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({
    version: pkg.version,
    commit: null,
    target: "source",
    runtime: `bun ${Bun.version}`,
    protocols: [PROTOCOL_VERSION],
    schema: { local: localSchemaVersion(), server: { sqlite: serverSchemaVersion("sqlite"), postgres: serverSchemaVersion("postgres") } },
    libsql: "node_modules",
  });
  // The newest migrations by name (numbered, so a new one sorts last).
  for (const v of [localSchemaVersion(), serverSchemaVersion("sqlite"), serverSchemaVersion("postgres")]) expect(v).toMatch(/^\d{4}_[a-z0-9_]+$/);
});

test("stowage version prints a table for people, --version the bare version, and extra arguments are a usage error", async () => {
  const table = await cli(["version"]);
  expect(table.code).toBe(0);
  expect(table.stdout).toContain(`version   ${pkg.version}\n`);
  expect(table.stdout).toContain("protocol  v1\n");
  expect(await cli(["--version"])).toEqual({ code: 0, stdout: `stowage ${pkg.version}\n`, stderr: "" });
  const extra = await cli(["version", "now"]);
  expect(extra.code).toBe(2);
});
