import { afterAll, expect, test } from "bun:test";
import { tempDir } from "../helpers/tmp.ts";
import { BIN, ROOT } from "./run.ts";

const tmp = tempDir("stowage-cli-rt-");
afterAll(() => tmp.cleanup());

const node = Bun.which("node");
const deno = Bun.which("deno");

function run(cmd: string[]): { code: number; stdout: string; stderr: string } {
  const p = Bun.spawnSync(cmd, { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: tmp.path, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

test.skipIf(!node || !deno)("the same CLI runs on Node (node:sqlite) and Deno, on one database file", () => {
  const db = tmp.file("shared.db");
  expect(run([node!, BIN, "put", "todos", '{"id":"n1","by":"node"}', "--db", db])).toMatchObject({ code: 0, stdout: "n1\n" });
  expect(run([deno!, "run", "-A", BIN, "put", "todos", '{"id":"d1","by":"deno"}', "--db", db])).toMatchObject({ code: 0, stdout: "d1\n" });
  const listed = run([node!, BIN, "list", "todos", "--json", "--db", db]);
  expect(listed.stdout).toBe('{"id":"d1","by":"deno"}\n{"id":"n1","by":"node"}\n');
  const bad = run([deno!, "run", "-A", BIN, "put", "Nope", "{}", "--db", db]);
  expect(bad.code).toBe(3);
  expect(bad.stderr).toContain('invalid collection name "Nope"');
});
