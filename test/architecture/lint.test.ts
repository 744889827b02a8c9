import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * `npm run lint` must fail on what it is there to stop (issue 33): a planted import cycle and
 * a planted upward import. The violations are planted in a temporary tree outside the
 * repository, laid out like it (src/store, src/sync), and checked with the repository's own
 * .dependency-cruiser.cjs, so nothing is ever written into src/ and nothing is left behind.
 */
const ROOT = join(import.meta.dir, "..", "..");
const DEPCRUISE = join(ROOT, "node_modules", ".bin", "depcruise");
const CONFIG = join(ROOT, ".dependency-cruiser.cjs");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function plant(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "stowage-lint-"));
  dirs.push(dir);
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "esnext", moduleResolution: "bundler", allowImportingTsExtensions: true, noEmit: true } }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

function lint(dir: string): { code: number; output: string } {
  const run = Bun.spawnSync([DEPCRUISE, "--config", CONFIG, "src"], { cwd: dir });
  return { code: run.exitCode ?? -1, output: run.stdout.toString() + run.stderr.toString() };
}

test("a clean planted tree passes (the checks below fail for the planted reason only)", () => {
  const dir = plant({
    "src/sync/engine.ts": 'import { x } from "../store/store.ts";\nexport const y = x;\n',
    "src/store/store.ts": "export const x = 1;\n",
  });
  const { code, output } = lint(dir);
  expect({ code, output: code === 0 ? "" : output }).toEqual({ code: 0, output: "" });
}, 20_000);

test("a planted import cycle fails lint with no-circular", () => {
  const dir = plant({
    "src/store/cycle-a.ts": 'import { b } from "./cycle-b.ts";\nexport const a = () => b;\n',
    "src/store/cycle-b.ts": 'import { a } from "./cycle-a.ts";\nexport const b = () => a;\n',
  });
  const { code, output } = lint(dir);
  console.log(`planted cycle: exit ${code}\n${output.trim()}`);
  expect(code).not.toBe(0);
  expect(output).toContain("no-circular");
  expect(output).toContain("src/store/cycle-a.ts");
}, 20_000);

test("a planted upward import (store -> sync) fails lint with layer-store", () => {
  const dir = plant({
    "src/store/store.ts": 'import { engine } from "../sync/engine.ts";\nexport const x = engine;\n',
    "src/sync/engine.ts": "export const engine = 1;\n",
  });
  const { code, output } = lint(dir);
  console.log(`planted upward import: exit ${code}\n${output.trim()}`);
  expect(code).not.toBe(0);
  expect(output).toContain("layer-store");
  expect(output).toContain("src/store/store.ts → src/sync/engine.ts");
}, 20_000);
