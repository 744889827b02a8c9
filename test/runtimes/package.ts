/**
 * `node test/runtimes/package.ts`: the package as an application gets it. Node and Deno
 * refuse to strip types under node_modules, so the published package must carry JavaScript
 * (`lib/`, built by `prepack`) behind its exports. This packs the repository with `npm pack`,
 * unpacks it into a temp app's node_modules (dependencies linked from ours, no network), and
 * runs test/runtimes/consumer-app.mjs there under Node 24 and Deno 2.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const bin = join(root, "node_modules/.bin");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> };
const tmp = mkdtempSync(join(tmpdir(), "stowage-package-"));
let failed = 0;
let passed = 0;

try {
  const tgz = execFileSync("npm", ["pack", "--silent", "--pack-destination", tmp], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
    .trim()
    .split("\n")
    .pop()!;
  const app = join(tmp, "app");
  const modules = join(app, "node_modules");
  mkdirSync(modules, { recursive: true });
  execFileSync("tar", ["-xzf", join(tmp, tgz), "-C", modules]);
  renameSync(join(modules, "package"), join(modules, "stowage"));
  for (const dep of Object.keys(pkg.dependencies)) {
    mkdirSync(dirname(join(modules, dep)), { recursive: true });
    symlinkSync(join(root, "node_modules", dep), join(modules, dep));
  }
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module", dependencies: { stowage: "*" } }));
  copyFileSync(join(root, "test/runtimes/consumer-app.mjs"), join(app, "app.mjs"));

  for (const [runtime, args] of [
    [join(bin, "node"), ["app.mjs"]],
    [join(bin, "deno"), ["run", "-A", "app.mjs"]],
  ] as const) {
    const r = spawnSync(runtime, args, { cwd: app, encoding: "utf8", timeout: 60_000 });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    const m = /(\d+) passed, (\d+) failed/.exec(r.stdout);
    passed += m ? Number(m[1]) : 0;
    failed += m ? Number(m[2]) : 1;
    if (r.status !== 0 && (!m || m[2] === "0")) failed++;
  }
} catch (e) {
  failed++;
  console.log(`FAIL harness\n     ${(e as Error)?.stack ?? String(e)}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`package: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
