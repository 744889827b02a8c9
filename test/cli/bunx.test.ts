import { afterAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/tmp.ts";
import { ROOT } from "./run.ts";

const tmp = tempDir("stowage-bunx-");
afterAll(() => tmp.cleanup());

/** Runs bun with its global install dir inside the temp dir, so nothing leaks to the machine. */
function bun(args: string[], cwd: string): { code: number; out: string } {
  const env = { PATH: process.env.PATH ?? "", HOME: tmp.path, BUN_INSTALL: join(tmp.path, "bun"), NO_COLOR: "1" };
  const p = Bun.spawnSync([process.execPath, ...args], { cwd, env, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: `${p.stdout}${p.stderr}` };
}

test("the bin entry works after `bun link`, through bunx and as a dependency's .bin", () => {
  expect(bun(["link"], ROOT).code).toBe(0);
  const app = join(tmp.path, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), '{"name":"app","private":true}');
  const linked = bun(["link", "stowage"], app);
  expect(linked.code).toBe(0);
  const viaBin = Bun.spawnSync([join(app, "node_modules", ".bin", "stowage"), "--version"], {
    env: { PATH: `${process.execPath.replace(/\/[^/]+$/, "")}:${process.env.PATH}` },
    stdout: "pipe",
  });
  expect(viaBin.stdout.toString()).toMatch(/^stowage \d+\.\d+\.\d+\n$/);
  const db = join(tmp.path, "x.db");
  expect(bun(["x", "stowage", "put", "todos", '{"id":"b1"}', "--db", db], app)).toEqual({ code: 0, out: "b1\n" });
  expect(bun(["x", "stowage", "get", "todos", "b1", "--db", db, "--json"], app)).toEqual({ code: 0, out: '{"id":"b1"}\n' });
});
