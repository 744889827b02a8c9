import { createReporter, type Reporter } from "./report.ts";

/**
 * `bun run bench [--json] [section…]`: every figure the issues ask for, in one run, each
 * beside the raw SQLite baseline measured in the same run where one applies.
 * Each module exports `default async (r: Reporter) => void`.
 */
const SECTIONS: Record<string, () => Promise<{ default: (r: Reporter) => Promise<void> }>> = {
  local: () => import("./local.ts"),
  server: () => import("./server.ts"),
  postgres: () => import("./postgres.ts"),
  adapters: () => import("./adapters.ts"),
  cli: () => import("./cli.ts"),
  sync: () => import("./sync.ts"),
  search: () => import("./search.ts"),
  live: () => import("./live.ts"),
  "live-cost": () => import("./live-cost.ts"),
  profile: () => import("./profile-sync.ts"),
  table: () => import("./table.ts"),
  "pg-scale": () => import("./pg-scale.ts"),
  pull1m: () => import("./pull1m.ts"),
  partial: () => import("./partial.ts"),
  streams10k: () => import("./streams10k.ts"),
};

const args = process.argv.slice(2);
const json = args.includes("--json");
const wanted = args.filter((a) => !a.startsWith("--"));
/** Slow sections run only when named. */
const OPT_IN = new Set(["pg-scale", "pull1m", "live-cost", "partial", "streams10k"]);
const reporter = createReporter();
for (const [name, load] of Object.entries(SECTIONS)) {
  if (wanted.length ? !wanted.includes(name) : OPT_IN.has(name)) continue;
  reporter.log(`bench: ${name}`);
  await (await load()).default(reporter);
}
reporter.print(json);
