#!/usr/bin/env bun
/**
 * `bun run build [--host] [--no-libsql] [target…]`: single executables of the CLI (which is also
 * the sync server and the MCP server) into dist/, one per platform, minified with bytecode for
 * start-up, and `dist/SHA256SUMS` listing every file built (the format `sha256sum -c` reads).
 * `bun run build --sums` writes SHA256SUMS again for the executables already in dist/.
 *
 * Each result is checked: the compiler's exit status, the file's executable format for its
 * platform, and for the host's own target, `--version` run from the built file.
 * The libsql native addon of the target's platform is embedded (libsql-addon.ts), so `--db
 * file:…` and `libsql://…` work from the executable alone; a target whose addon cannot be had
 * is built without it and says so when such a URL is used (exit 7). Cross targets need Bun's
 * runtime for that platform from the npm registry; a target that cannot be fetched is
 * reported and skipped, and only a failure of the host target (or a broken result) fails the build.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import pkg from "./package.json" with { type: "json" };
import { libsqlAddon, libsqlAddonPlugin } from "./scripts/libsql-addon.ts";

const TARGETS = {
  "linux-x64": { bun: "bun-linux-x64", file: "stowage-linux-x64", magic: "7f454c46" },
  "linux-arm64": { bun: "bun-linux-arm64", file: "stowage-linux-arm64", magic: "7f454c46" },
  "darwin-arm64": { bun: "bun-darwin-arm64", file: "stowage-darwin-arm64", magic: "cffaedfe" },
  "darwin-x64": { bun: "bun-darwin-x64", file: "stowage-darwin-x64", magic: "cffaedfe" },
  "windows-x64": { bun: "bun-windows-x64", file: "stowage-windows-x64.exe", magic: "4d5a" },
} as const;
export type Target = keyof typeof TARGETS;
export const TARGET_NAMES = Object.keys(TARGETS) as Target[];

export const HOST: Target | undefined = (() => {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const name = `${os}-${process.arch}`;
  return name in TARGETS ? (name as Target) : undefined;
})();

export interface BuildResult {
  target: string;
  status: "ok" | "skipped" | "failed";
  file?: string;
  bytes?: number;
  /** Whether the libsql native addon is inside the executable. */
  libsql?: boolean;
  detail?: string;
}

export interface BuildOptions {
  /** Embed the libsql addon (default true); false builds what a target without one gets. */
  libsql?: boolean;
  /** Fetch a missing addon package with `npm pack` (default true). */
  fetchAddon?: boolean;
}

/** Compiles one target into `outDir`; never throws. */
export async function buildTarget(target: Target, outDir = "dist", options: BuildOptions = {}): Promise<BuildResult> {
  const t = TARGETS[target];
  const file = join(outDir, t.file);
  rmSync(file, { force: true });
  mkdirSync(outDir, { recursive: true });
  const addon = options.libsql === false ? { path: undefined, why: "built with --no-libsql" } : libsqlAddon(target, { fetch: options.fetchAddon ?? true });
  const info = { commit: gitCommit(), target, libsql: addon.path !== undefined };
  let log = "";
  try {
    const r = await Bun.build({
      entrypoints: [join(import.meta.dir, "src", "cli", "bin.ts")],
      compile: { target: t.bun as Bun.Build.CompileTarget, outfile: file },
      minify: true,
      bytecode: true,
      format: "esm",
      sourcemap: "none",
      // Read by src/runtime/build-info.ts; a run from source has none.
      define: { STOWAGE_BUILD: JSON.stringify(info) },
      plugins: [libsqlAddonPlugin(target, addon)],
      throw: false,
    });
    log = r.logs.map(String).join("\n");
    if (!r.success) throw new Error(log || "build failed");
  } catch (e) {
    log = `${log}\n${String((e as Error).message ?? e)}`.trim();
  }
  if (!existsSync(file)) {
    const fetchProblem = target !== HOST && /download|fetch|registry|network|ENOTFOUND|ECONN|404|tarball/i.test(log);
    return { target, status: fetchProblem ? "skipped" : "failed", detail: lastLines(log) || "no output" };
  }
  const bytes = statSync(file).size;
  const detail = addon.path ? undefined : `libsql addon not embedded: ${addon.why}`;
  if (magic(file, t.magic.length / 2) !== t.magic) return { target, status: "failed", file, bytes, detail: `not a ${target} executable` };
  if (target === HOST) {
    const run = Bun.spawnSync([file, "--version"], { stdout: "pipe", stderr: "pipe" });
    const said = run.stdout.toString().trim();
    if (run.exitCode !== 0 || said !== `stowage ${pkg.version}`) {
      return { target, status: "failed", file, bytes, detail: `--version answered ${JSON.stringify(said)} (exit ${run.exitCode}) ${run.stderr}` };
    }
  }
  return { target, status: "ok", file, bytes, libsql: info.libsql, ...(detail ? { detail } : {}) };
}

/** Writes `SHA256SUMS` in `outDir` for the given files (`<hex>  <name>` lines, sorted by name). */
export function writeChecksums(outDir: string, files: readonly string[]): string {
  const lines = [...files]
    .sort((a, b) => basename(a).localeCompare(basename(b)))
    .map((f) => `${createHash("sha256").update(readFileSync(f)).digest("hex")}  ${basename(f)}\n`);
  const out = join(outDir, "SHA256SUMS");
  writeFileSync(out, lines.join(""));
  return out;
}

/** The commit being built: CI's GITHUB_SHA, else git's HEAD, else null (a source tarball). */
function gitCommit(): string | null {
  if (process.env.GITHUB_SHA) return process.env.GITHUB_SHA;
  const r = Bun.spawnSync(["git", "rev-parse", "HEAD"], { cwd: import.meta.dir, stdout: "pipe", stderr: "ignore" });
  const sha = r.exitCode === 0 ? r.stdout.toString().trim() : "";
  if (!/^[0-9a-f]{40}$/.test(sha)) return null;
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: import.meta.dir, stdout: "pipe", stderr: "ignore" });
  return dirty.stdout.toString().trim() ? `${sha}-dirty` : sha;
}

function magic(file: string, n: number): string {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 0);
    return buf.toString("hex");
  } finally {
    closeSync(fd);
  }
}

function lastLines(text: string): string {
  return text.split("\n").filter((l) => l.trim()).slice(-3).join(" | ");
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args.length === 1 && args[0] === "--sums") {
    // After a step changed the files (the release re-signs the macOS ones): list them again.
    const present = TARGET_NAMES.map((t) => join("dist", TARGETS[t].file)).filter((f) => existsSync(f));
    if (present.length === 0) {
      console.error("build --sums: no executables in dist/ (run the build first)");
      process.exit(1);
    }
    console.log(`wrote   ${writeChecksums("dist", present)} (${present.length} files)`);
    process.exit(0);
  }
  const flags = new Set(["--host", "--no-libsql"]);
  const unknown = args.filter((a) => !flags.has(a) && !(a in TARGETS));
  if (unknown.length) {
    console.error(`build: unknown target ${JSON.stringify(unknown[0])}; targets: ${TARGET_NAMES.join(", ")} (or --host, --no-libsql)`);
    process.exit(2);
  }
  let wanted = args.filter((a): a is Target => a in TARGETS);
  if (args.includes("--host")) {
    if (!HOST) {
      console.error(`build: this platform (${process.platform}-${process.arch}) is not a target`);
      process.exit(2);
    }
    wanted.push(HOST);
  }
  if (wanted.length === 0) wanted = [...TARGET_NAMES];
  // The host first: it is the one whose failure fails the build.
  wanted = [...new Set(wanted)].sort((a, b) => Number(b === HOST) - Number(a === HOST));
  mkdirSync("dist", { recursive: true });
  rmSync(join("dist", "SHA256SUMS"), { force: true });
  let failed = false;
  const built: string[] = [];
  for (const target of wanted) {
    const r = await buildTarget(target, "dist", { libsql: !args.includes("--no-libsql") });
    const size = r.bytes ? ` (${(r.bytes / 1e6).toFixed(1)} MB)` : "";
    console.log(`${r.status.padEnd(7)} ${target.padEnd(12)} ${r.file ?? ""}${size}${r.libsql ? "  libsql embedded" : ""}${r.detail ? `  ${r.detail}` : ""}`);
    if (r.status === "failed") failed = true;
    if (r.status === "ok") built.push(r.file!);
  }
  if (built.length) console.log(`wrote   ${writeChecksums("dist", built)} (${built.length} files)`);
  process.exit(failed ? 1 : 0);
}
