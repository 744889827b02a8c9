#!/usr/bin/env bun
/**
 * `bun run build [--host] [target…]`: single executables of the CLI (which is also the sync
 * server and the MCP server) into dist/, one per platform, minified with bytecode for start-up.
 *
 * Each result is checked: the compiler's exit status, the file's executable format for its
 * platform, and for the host's own target, `--version` run from the built file.
 * The libsql native addon is not embedded: every command works without it except a `--db`
 * libsql/file: URL, which says so (exit 7). Cross targets need Bun's runtime for that platform
 * from the npm registry; a target that cannot be fetched is reported and skipped, and only a
 * failure of the host target (or a broken result) fails the build.
 */
import { existsSync, mkdirSync, openSync, readSync, closeSync, statSync, rmSync } from "node:fs";
import { join } from "node:path";
import pkg from "./package.json" with { type: "json" };

const TARGETS = {
  "linux-x64": { bun: "bun-linux-x64", file: "stowage-linux-x64", magic: "7f454c46" },
  "linux-arm64": { bun: "bun-linux-arm64", file: "stowage-linux-arm64", magic: "7f454c46" },
  "darwin-arm64": { bun: "bun-darwin-arm64", file: "stowage-darwin-arm64", magic: "cffaedfe" },
  "darwin-x64": { bun: "bun-darwin-x64", file: "stowage-darwin-x64", magic: "cffaedfe" },
  "windows-x64": { bun: "bun-windows-x64", file: "stowage-windows-x64.exe", magic: "4d5a" },
} as const;
type Target = keyof typeof TARGETS;

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
  detail?: string;
}

/** Compiles one target into `outDir`; never throws. */
export async function buildTarget(target: Target, outDir = "dist"): Promise<BuildResult> {
  const t = TARGETS[target];
  const file = join(outDir, t.file);
  rmSync(file, { force: true });
  const proc = Bun.spawn(
    [process.execPath, "build", "--compile", `--target=${t.bun}`, "--minify", "--bytecode", "--format=esm", "--sourcemap=none",
      "--outfile", file, join(import.meta.dir, "src", "cli", "bin.ts")],
    { stdout: "pipe", stderr: "pipe", cwd: import.meta.dir },
  );
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const log = `${out}\n${err}`.trim();
  if (code !== 0 || !existsSync(file)) {
    const fetchProblem = target !== HOST && /download|fetch|registry|network|ENOTFOUND|ECONN|404|tarball/i.test(log);
    return { target, status: fetchProblem ? "skipped" : "failed", detail: lastLines(log) || `exit ${code}` };
  }
  const bytes = statSync(file).size;
  if (magic(file, t.magic.length / 2) !== t.magic) return { target, status: "failed", file, bytes, detail: `not a ${target} executable` };
  if (target === HOST) {
    const run = Bun.spawnSync([file, "--version"], { stdout: "pipe", stderr: "pipe" });
    const said = run.stdout.toString().trim();
    if (run.exitCode !== 0 || said !== `stowage ${pkg.version}`) {
      return { target, status: "failed", file, bytes, detail: `--version answered ${JSON.stringify(said)} (exit ${run.exitCode}) ${run.stderr}` };
    }
  }
  return { target, status: "ok", file, bytes };
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
  const unknown = args.filter((a) => a !== "--host" && !(a in TARGETS));
  if (unknown.length) {
    console.error(`build: unknown target ${JSON.stringify(unknown[0])}; targets: ${Object.keys(TARGETS).join(", ")} (or --host)`);
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
  if (wanted.length === 0) wanted = Object.keys(TARGETS) as Target[];
  // The host first: it is the one whose failure fails the build.
  wanted = [...new Set(wanted)].sort((a, b) => Number(b === HOST) - Number(a === HOST));
  mkdirSync("dist", { recursive: true });
  let failed = false;
  for (const target of wanted) {
    const r = await buildTarget(target);
    const size = r.bytes ? ` (${(r.bytes / 1e6).toFixed(1)} MB)` : "";
    console.log(`${r.status.padEnd(7)} ${target.padEnd(12)} ${r.file ?? ""}${size}${r.detail ? `  ${r.detail}` : ""}`);
    if (r.status === "failed") failed = true;
  }
  console.log("note: the libsql native addon is not embedded; every command works without it except --db libsql://… or file:… URLs (exit 7).");
  process.exit(failed ? 1 : 0);
}
