import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Row } from "./report.ts";

/**
 * `bun run bench/ab.ts [--old REV] [--rounds N] [section…]`: the same bench sections of an
 * older build and this one, run alternately in ONE run (old, new, new, old, old, new, …: each
 * build goes first as often as the other), so a machine that gets busier or quieter during the
 * run moves both alike. Prints each figure's median per build and new/old.
 *
 * The old build is `git archive` of REV unpacked in a temporary directory (nothing is added to
 * the repository's worktrees) with this checkout's node_modules linked in, and removed at the end.
 * REV defaults to the main commit before issue 33 (one step of architecture) began: the first
 * parent of the first merge that brought src/server/sql/ or src/sync/v1/.
 */
const ROOT = join(import.meta.dir, "..");
const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const optionValues = new Set(["--old", "--rounds"].flatMap((f) => (args.includes(f) ? [args[args.indexOf(f) + 1]] : [])));
const sections = args.filter((a) => !a.startsWith("--") && !optionValues.has(a));
/** The sections whose code issue 33 moved: the server's push and pull, client sync, the local store, PostgreSQL push. */
const SECTIONS = sections.length ? sections : ["server", "sync", "local", "postgres"];
const rounds = Number(option("rounds") ?? 3);

function git(...a: string[]): string {
  const r = spawnSync("git", a, { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${a.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

function issue33Base(): string {
  const first = git("log", "--first-parent", "--format=%H", "--diff-filter=A", "--", "src/server/sql", "src/sync/v1").split("\n").filter(Boolean).at(-1);
  if (!first) throw new Error("no commit adds src/server/sql or src/sync/v1: pass --old REV");
  return git("rev-parse", `${first}^1`);
}

const oldRev = git("rev-parse", option("old") ?? issue33Base());
const newRev = git("rev-parse", "HEAD");
const oldDir = mkdtempSync(join(tmpdir(), "stowage-ab-old-"));
const cleanup = () => rmSync(oldDir, { recursive: true, force: true });
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});

try {
  const archive = spawnSync("bash", ["-c", `git archive ${oldRev} | tar -x -C '${oldDir}'`], { cwd: ROOT, encoding: "utf8" });
  if (archive.status !== 0) throw new Error(`git archive: ${archive.stderr}`);
  symlinkSync(join(ROOT, "node_modules"), join(oldDir, "node_modules"));
  const dirty = git("status", "--porcelain", "--untracked-files=no") !== "";
  process.stderr.write(`A/B: old ${oldRev.slice(0, 10)}, new ${newRev.slice(0, 10)}${dirty ? " (+ uncommitted changes)" : ""}; sections ${SECTIONS.join(", ")}; ${rounds} rounds\n`);

  /**
   * One run of one build's sections. A failed run is run again once (on a shared machine a run
   * can fail for reasons of its own: another process dropped its PostgreSQL schema), so one
   * hiccup does not throw away the rounds before it.
   */
  const benchRun = (build: "old" | "new"): Row[] => {
    for (let attempt = 1; ; attempt++) {
      const r = spawnSync(process.execPath, ["run", "bench/index.ts", "--json", ...SECTIONS], {
        cwd: build === "old" ? oldDir : ROOT,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      });
      if (r.status === 0) return JSON.parse(r.stdout) as Row[];
      const why = `${build} build's bench failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`;
      if (attempt >= 2) throw new Error(why);
      process.stderr.write(`  ${why}\n  (running it again)\n`);
    }
  };

  const values = { old: new Map<string, number[]>(), new: new Map<string, number[]>() };
  const units = new Map<string, string>();
  const order: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const builds: ("old" | "new")[] = round % 2 === 0 ? ["old", "new"] : ["new", "old"];
    for (const build of builds) {
      const started = performance.now();
      const rows = benchRun(build);
      for (const row of rows) {
        const key = `${row.section} · ${row.name}`;
        if (!units.has(key)) {
          units.set(key, row.unit);
          order.push(key);
        }
        const list = values[build].get(key) ?? [];
        list.push(row.value);
        values[build].set(key, list);
      }
      process.stderr.write(`  round ${round + 1}/${rounds} ${build}: ${rows.length} figures in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    }
  }

  const median = (xs: number[] | undefined): number => {
    if (!xs?.length) return NaN;
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const fmt = (v: number) => (Number.isNaN(v) ? "—" : v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(2));
  /** A rate is better higher; a time or a size, lower. */
  const higherIsBetter = (unit: string) => unit.includes("/s");
  console.log(`\nA/B, ${rounds} runs each, alternating: old ${oldRev.slice(0, 10)} vs new ${newRev.slice(0, 10)}${dirty ? " (+ uncommitted)" : ""}\n`);
  // Each round's two runs are neighbours in time: their ratio cancels most of the machine's
  // drift, so the verdict goes by the rounds' ratios (their median, and whether all agree).
  console.log(`| figure | unit | old median | new median | new/old | rounds' new/old (min–max) | |`);
  console.log(`|---|---|---:|---:|---:|---:|---|`);
  for (const key of order) {
    const unit = units.get(key)!;
    const olds = values.old.get(key) ?? [];
    const news = values.new.get(key) ?? [];
    const o = median(olds);
    const n = median(news);
    const paired = olds.map((v, i) => news[i] / v).filter((r) => Number.isFinite(r));
    const ratio = median(paired);
    const better = (r: number) => (higherIsBetter(unit) ? r : 1 / r);
    const allWorse = paired.length > 0 && paired.every((r) => better(r) < 1);
    // A figure that can be zero or negative (memory growth after GC) has no meaningful ratio.
    const comparable = olds.length > 0 && news.length > 0 && olds.every((v) => v > 0) && news.every((v) => v > 0);
    const verdict = Number.isNaN(ratio) ? "only in one build" : !comparable ? "not a ratio (values ≤ 0)" : better(ratio) < 0.9 ? (allWorse ? "worse >10%, every round" : "worse >10%") : better(ratio) > 1.1 ? "better >10%" : "";
    const range = paired.length ? `${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)}` : "—";
    console.log(`| ${key} | ${unit} | ${fmt(o)} | ${fmt(n)} | ${Number.isNaN(ratio) ? "—" : ratio.toFixed(3)} | ${range} | ${verdict} |`);
  }
} finally {
  cleanup();
}
