import { Database } from "bun:sqlite";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { ftsMatch, parseQuery } from "../src/search/query.ts";
import { ftsNames } from "../src/search/fts-index.ts";
import { Store } from "../src/store/store.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { percentile, type Reporter } from "./report.ts";
// Deterministic PRNG (the fault tester's), so every run searches the same corpus.
import { mulberry32 } from "../chaos/prng.ts";

const N = Number(process.env.BENCH_SEARCH_DOCS ?? 100_000);
const VOCABULARY = 20_000;
const QUERIES_PER_KIND = 60;
const SECTION = `full-text search (bun-sqlite, FTS5, ${N.toLocaleString("en-US")} docs of ~1 KB)`;


/** Pronounceable made-up words; index 0 is the most frequent under the Zipf draw. */
function vocabulary(random: () => number): string[] {
  const syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "da", "fe", "gi", "ho", "ju", "pa", "qui", "ze", "xo", "wy", "cr"];
  const words = new Set<string>();
  while (words.size < VOCABULARY) {
    let w = "";
    const n = 2 + Math.floor(random() * 3);
    for (let i = 0; i < n; i++) w += syllables[Math.floor(random() * syllables.length)];
    words.add(w);
  }
  return [...words];
}

/** Word ranks drawn with Zipf's law (s = 1), like natural text. */
function zipf(random: () => number, n: number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1);
  return () => {
    const x = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export default async function bench(r: Reporter): Promise<void> {
  const dir = tempDir("stowage-bench-search-");
  const random = mulberry32(42);
  const words = vocabulary(random);
  const draw = zipf(random, words.length);
  const sentence = (n: number) => Array.from({ length: n }, () => words[draw()]).join(" ");
  const store = await Store.open({ adapter: createBunSqliteAdapter({ path: dir.file("search.db") }) });
  try {
    const c = store.collection("memories", { search: ["title", "content", "tags"] });
    await c.search("warmup").catch(() => {}); // creates the (empty) index and its triggers first

    r.log(`  writing ${N} documents with the FTS index kept by triggers…`);
    let bytes = 0;
    let writeMs = 0;
    for (let i = 0; i < N; i += 5_000) {
      const batch = Array.from({ length: Math.min(5_000, N - i) }, (_, k) => ({
        id: `d${String(i + k).padStart(7, "0")}`,
        title: sentence(6),
        content: sentence(150),
        tags: [words[draw()], words[draw()]],
      }));
      for (const d of batch) bytes += JSON.stringify(d).length;
      const start = performance.now();
      await c.putMany(batch);
      writeMs += performance.now() - start;
    }
    r.figure(SECTION, `putMany with the index kept in step (avg doc ${Math.round(bytes / N)} B)`, (N / writeMs) * 1000, "docs/s");

    const pick = (from: number, to: number) => words[from + Math.floor(random() * (to - from))];
    const kinds: Record<string, () => string> = {
      "one common word (rank 1-50)": () => pick(0, 50),
      "one mid-frequency word (rank 500-2,000)": () => pick(500, 2_000),
      "one rare word (rank 10,000-20,000)": () => pick(10_000, 20_000),
      "two mid words, all must match": () => `${pick(200, 2_000)} ${pick(200, 2_000)}`,
      "prefix of a mid word (3 letters*)": () => `${pick(500, 2_000).slice(0, 3)}*`,
      "three mid words, any may match": () => `${pick(500, 2_000)} ${pick(500, 2_000)} ${pick(500, 2_000)}`,
    };
    const all: number[] = [];
    const raw = new Database(dir.file("search.db"), { readonly: true });
    const { fts } = ftsNames("memories");
    const rawQuery = raw.prepare(`select rowid, snippet("${fts}", -1, '**', '**', '…', 24) as s from "${fts}" where "${fts}" match ? order by rank limit 10`);
    const rawAll: number[] = [];
    for (const [kind, make] of Object.entries(kinds)) {
      const times: number[] = [];
      const rawTimes: number[] = [];
      const match = kind.includes("any") ? "any" : "all";
      for (let i = 0; i < QUERIES_PER_KIND; i++) {
        const q = make();
        let start = performance.now();
        await c.search(q, { limit: 10, match });
        times.push(performance.now() - start);
        start = performance.now();
        rawQuery.all(ftsMatch(parseQuery(q), match));
        rawTimes.push(performance.now() - start);
      }
      times.sort((a, b) => a - b);
      rawTimes.sort((a, b) => a - b);
      all.push(...times);
      rawAll.push(...rawTimes);
      r.figure(SECTION, `${kind}: p50`, percentile(times, 50), "ms", { ratio: percentile(rawTimes, 50) / percentile(times, 50) });
      r.figure(SECTION, `${kind}: p95`, percentile(times, 95), "ms");
    }
    all.sort((a, b) => a - b);
    rawAll.sort((a, b) => a - b);
    r.figure(SECTION, `collection.search, top 10 with snippets, all ${all.length} queries: p50`, percentile(all, 50), "ms", { ratio: percentile(rawAll, 50) / percentile(all, 50) });
    r.figure(SECTION, `collection.search, top 10 with snippets, all ${all.length} queries: p95`, percentile(all, 95), "ms", { ratio: percentile(rawAll, 95) / percentile(all, 95) });
    raw.close();

    const like: number[] = [];
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      await c.search(pick(500, 2_000), { limit: 10, engine: "like" });
      like.push(performance.now() - start);
    }
    like.sort((a, b) => a - b);
    r.figure(SECTION, "LIKE fallback (no FTS5), one mid word: p50 of 3", percentile(like, 50), "ms", { note: "full scan" });
  } finally {
    await store.close();
    dir.cleanup();
  }
}
