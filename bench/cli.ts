import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { buildTarget, HOST } from "../build.ts";
import { Store } from "../src/store/store.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { percentile, type Reporter } from "./report.ts";

const RUNS = 20;

/** Cold start of the single executable: a new process per run, median of 20. */
export default async function bench(r: Reporter): Promise<void> {
  if (!HOST) {
    r.log(`cli: ${process.platform}-${process.arch} is not a build target; skipped`);
    return;
  }
  const tmp = tempDir("stowage-bench-cli-");
  try {
    const built = await buildTarget(HOST, tmp.path);
    if (built.status !== "ok") throw new Error(`build failed: ${built.detail}`);
    const exe = join(tmp.path, "stowage");
    copyFileSync(built.file!, exe);
    r.figure("cli", "executable size", built.bytes! / 1e6, "MB");

    const db = join(tmp.path, "bench.db");
    const store = await Store.open({ adapter: createBunSqliteAdapter({ path: db }) });
    const docs = Array.from({ length: 10_000 }, (_, i) => ({ id: `d${i}`, title: `document ${i}`, done: i % 2 === 0, n: i }));
    await store.collection("docs").putMany(docs);
    await store.close();

    const env = { PATH: process.env.PATH ?? "", HOME: tmp.path, NO_COLOR: "1" };
    const cases: [string, string[], string][] = [
      ["cold start: stowage --version (median of 20)", [exe, "--version"], "aim < 50 ms"],
      ["cold start: stowage get on a 10,000-doc db (median of 20)", [exe, "get", "docs", "d5000", "--db", db, "--json"], "aim < 50 ms"],
      ["cold start: bun src/cli/bin.ts --version (bunx path)", [process.execPath, "src/cli/bin.ts", "--version"], "for comparison"],
      ["cold start: bun src/cli/bin.ts get, 10,000 docs (bunx path)", [process.execPath, "src/cli/bin.ts", "get", "docs", "d5000", "--db", db, "--json"], "for comparison"],
    ];
    for (const [name, cmd, aim] of cases) {
      const times: number[] = [];
      for (let i = 0; i < RUNS + 2; i++) {
        const start = performance.now();
        const p = Bun.spawnSync(cmd, { env, stdout: "pipe", stderr: "pipe" });
        const ms = performance.now() - start;
        if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${p.exitCode}: ${p.stderr}`);
        if (i >= 2) times.push(ms); // two warm-up runs fill the page cache, as on a used machine
      }
      times.sort((a, b) => a - b);
      r.figure("cli", name, percentile(times, 50), "ms", { note: `p90 ${percentile(times, 90).toFixed(1)} ms; ${aim}` });
    }
    await streaming(r, exe, tmp.path, env);
  } finally {
    tmp.cleanup();
  }
}

/** export/import of a million documents through the executable: speed and peak memory. */
async function streaming(r: Reporter, exe: string, dir: string, env: Record<string, string>): Promise<void> {
  const N = Number(process.env.BENCH_CLI_DOCS ?? 1_000_000);
  const src = join(dir, "million.db");
  const store = await Store.open({ adapter: createBunSqliteAdapter({ path: src }) });
  const c = store.collection("docs");
  for (let b = 0; b < N; b += 10_000) {
    const n = Math.min(10_000, N - b);
    await c.putMany(Array.from({ length: n }, (_, i) => ({ id: `d${String(b + i).padStart(7, "0")}`, title: `document ${b + i}`, done: i % 2 === 0, tags: ["a", "b"], n: i })));
  }
  await store.close();
  const dump = join(dir, "million.ndjson");
  // GNU time reports the child's own peak RSS; Bun's resourceUsage accumulates over children.
  const gnuTime = ["/usr/bin/time", "/bin/time"].find((t) => Bun.which(t));
  const run = (name: string, cmd: string[]) => {
    const start = performance.now();
    const p = Bun.spawnSync(gnuTime ? [gnuTime, "-f", "maxrss=%M", ...cmd] : cmd, { env, stdout: "pipe", stderr: "pipe" });
    const s = (performance.now() - start) / 1000;
    if (p.exitCode !== 0) throw new Error(`${name} exited ${p.exitCode}: ${p.stderr}`);
    const kb = /maxrss=(\d+)/.exec(p.stderr.toString())?.[1];
    r.figure("cli", `${name} ${N.toLocaleString("en-US")} docs`, N / s, "docs/s", { note: kb ? `peak RSS ${(Number(kb) / 1024).toFixed(0)} MB` : undefined });
  };
  run("export (NDJSON to a file)", [exe, "export", "--db", src, "--out", dump]);
  run("import (NDJSON into a fresh db)", [exe, "import", dump, "--db", join(dir, "fresh.db")]);
}
