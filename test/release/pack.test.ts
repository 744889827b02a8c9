import { expect, test } from "bun:test";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };

/**
 * What `npm pack` would publish (a dry run: prepack's `lib/` build is left to the packed-package
 * test in test:runtimes, so `lib/` counts only if a build left it here). The tarball holds the
 * library, CLI, adapters, docs, README and CHANGELOG — never tests, benches, the fault tester,
 * the console's sources, CI or release files — and stays within a size budget.
 */
const ROOT = join(import.meta.dir, "..", "..");
// Measured 2026-12: 604 KB packed and 1.27 MB unpacked without lib/; 839 KB packed with it.
const BUDGET = { packedBytes: 1_100_000, unpackedBytesOutsideLib: 1_600_000, files: 700 };

test("npm pack ships the package's code and docs only, within the size budget", async () => {
  const run = Bun.spawn(["npm", "pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(run.stdout).text(), run.exited]);
  expect(code).toBe(0);
  const [packed] = JSON.parse(out) as { size: number; entryCount: number; files: { path: string; size: number }[] }[];
  const paths = packed.files.map((f) => f.path);

  const forbidden = paths.filter(
    (p) => /^(test|bench|chaos|console|scripts|\.ci|\.github|dist|node_modules)\//.test(p) || /\.test\.[cm]?[jt]s$|\.db(-wal|-shm)?$|^install\.(sh|ps1)$|^build\.ts$/.test(p),
  );
  expect(forbidden).toEqual([]);
  expect(paths).toEqual(expect.arrayContaining(["package.json", "README.md", "CHANGELOG.md", "docs/PROTOCOL.md", "src/cli/bin.ts"]));
  // Every file the package's bin and Bun exports point at is in the tarball.
  const targets = [pkg.bin.stowage, ...Object.values(pkg.exports).map((e) => (typeof e === "string" ? e : e.bun))].map((t) => t.replace(/^\.\//, ""));
  expect(targets.filter((t) => t !== "package.json" && !paths.includes(t))).toEqual([]);

  const outsideLib = packed.files.filter((f) => !f.path.startsWith("lib/")).reduce((n, f) => n + f.size, 0);
  console.log(`npm pack: ${packed.entryCount} files, ${(packed.size / 1e3).toFixed(0)} KB packed, ${(outsideLib / 1e6).toFixed(2)} MB unpacked outside lib/`);
  expect(packed.size).toBeLessThan(BUDGET.packedBytes);
  expect(outsideLib).toBeLessThan(BUDGET.unpackedBytesOutsideLib);
  expect(packed.entryCount).toBeLessThan(BUDGET.files);
}, 60_000);
