import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * An earlier release of Stowage, run from its own source: `git archive <commit>` into a temp
 * directory, with this checkout's node_modules linked in (every release so far depends on a
 * subset of today's packages at the same major versions). Its CLI runs under this Bun.
 */
export interface OldRelease {
  /** The version name this project gives the commit (CHANGELOG.md). */
  version: string;
  commit: string;
  dir: string;
  /** Runs the old CLI to completion. */
  cli(args: string[], env?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Starts the old `stowage serve --port 0` on a SQLite file. */
  serve(data: string): Promise<{ url: string; stop(): Promise<void> }>;
  cleanup(): void;
}

/** The releases, by the commit each was cut at (no tags exist; CHANGELOG.md says why these). */
export const RELEASES = {
  "0.1.0": "bc37e9b4ce07b28039aa9c5d640a2c71cfb20fe1",
  "0.2.0": "de232408a81255744765b7bf1972da5fb9d8c25e",
} as const;

const ROOT = join(import.meta.dir, "..", "..");

/** Unpacks `commit` from this repository's history; throws with a clear message when the history is missing. */
export async function oldRelease(version: keyof typeof RELEASES): Promise<OldRelease> {
  const commit = RELEASES[version];
  const dir = mkdtempSync(join(tmpdir(), `stowage-${version}-`));
  const archive = Bun.spawn(["sh", "-c", `git archive "$1" | tar x -C "$2"`, "sh", commit, dir], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(archive.stderr).text(), archive.exited]);
  if (code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot unpack release ${version} (commit ${commit}) from git: ${err.trim()} — a shallow clone lacks it; fetch the full history (actions/checkout fetch-depth: 0)`);
  }
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  const bin = join(dir, "src", "cli", "bin.ts");
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? "", HOME: dir, NO_COLOR: "1", ...extra });
  return {
    version,
    commit,
    dir,
    async cli(args, extra) {
      const p = Bun.spawn([process.execPath, bin, ...args], { cwd: dir, env: env(extra), stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { code, stdout, stderr };
    },
    async serve(data) {
      const p = Bun.spawn([process.execPath, bin, "serve", "--port", "0", "--json", "--data", data], { cwd: dir, env: env(), stdout: "pipe", stderr: "pipe" });
      const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`release ${version} serve exited early: ${await new Response(p.stderr as ReadableStream).text()}`);
        text += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      void new Response(p.stderr as ReadableStream).text().catch(() => "");
      return {
        url: JSON.parse(text.split("\n")[0]).url.replace(/\/$/, ""),
        async stop() {
          p.kill("SIGTERM");
          await p.exited;
        },
      };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
