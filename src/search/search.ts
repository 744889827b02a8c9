import { StowageError, describeValue } from "../errors.ts";
import { all, first, type Executor } from "../store/sql.ts";
import type { Doc } from "../store/types.ts";
import { assertSearchFields, ensureSearchIndex, ftsNames, type IndexAccess } from "./fts-index.ts";
import { ftsMatch, likePattern, parseQuery, type Term } from "./query.ts";
import { excerpt, fieldText, fieldTextSql } from "./text.ts";
import type { SearchHit, SearchOptions, SearchResult } from "./types.ts";

export const MAX_SEARCH_LIMIT = 1_000;
const SNIPPET_TOKENS = 24;
const LIKE_NOTE = "no FTS5 here (the adapter or its SQLite build lacks it): results come from a substring scan, without stemming, ranked by words matched";

/** A collection as search sees it: its name, declared fields and database access. */
export interface SearchTarget extends IndexAccess {
  /** The collection name. */
  collection: string;
  /** Its declared `search` fields. */
  fields: readonly string[] | undefined;
  /** Whether the adapter declares FTS5; when absent the SQLite build is probed once. */
  fts5?: boolean;
}

/** Ranked full-text search over a collection's declared fields. */
export async function searchCollection<T>(target: SearchTarget, query: string, options: SearchOptions = {}): Promise<SearchResult<T>> {
  const fields = assertSearchFields(target.collection, target.fields ? [...target.fields] : undefined);
  const terms = parseQuery(query);
  const limit = options.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) {
    throw new StowageError("input", `search limit must be an integer from 1 to ${MAX_SEARCH_LIMIT}, got ${describeValue(limit)}`);
  }
  const match = options.match ?? "all";
  if (match !== "all" && match !== "any" && match !== "auto") {
    throw new StowageError("input", `search match must be "all", "any" or "auto", got ${describeValue(match)}`);
  }
  const marks = options.highlight ?? ["**", "**"];
  if (!Array.isArray(marks) || marks.length !== 2 || marks.some((m) => typeof m !== "string")) {
    throw new StowageError("input", `search highlight must be two strings, got ${describeValue(marks)}`);
  }
  const engine = await chooseEngine(target, options.engine);
  const run = (m: "all" | "any"): Promise<SearchHit<T>[]> =>
    engine === "fts5"
      ? ftsSearch<T>(target, terms, m, limit, marks)
      : target.read((db) => likeSearch<T>(db, target.collection, fields, terms, m, limit, marks));

  let used: "all" | "any" = match === "any" ? "any" : "all";
  if (engine === "fts5") await ensureSearchIndex(target, target.collection, fields);
  let hits = await run(used);
  if (match === "auto" && hits.length === 0 && terms.length > 1) hits = await run((used = "any"));
  const result: SearchResult<T> = { hits, engine, match: used, terms: terms.map((t) => t.text) };
  if (engine === "like") result.note = LIKE_NOTE;
  return result;
}

async function chooseEngine(target: SearchTarget, forced: SearchOptions["engine"]): Promise<"fts5" | "like"> {
  if (forced !== undefined && forced !== "fts5" && forced !== "like") {
    throw new StowageError("input", `search engine must be "fts5" or "like", got ${describeValue(forced)}`);
  }
  const available = target.fts5 ?? (await target.read(hasFts5));
  if (forced === "fts5" && !available) throw new StowageError("config", "search engine fts5 was asked for, but this SQLite build has no FTS5");
  return forced ?? (available ? "fts5" : "like");
}

const probed = new WeakMap<object, boolean>();

/** Whether the SQLite build has FTS5: it registers an `fts5()` SQL function. */
export async function hasFts5(db: Executor): Promise<boolean> {
  const known = probed.get(db);
  if (known !== undefined) return known;
  let ok: boolean;
  try {
    await first(db, "select fts5(null) as p");
    ok = true;
  } catch {
    ok = false;
  }
  probed.set(db, ok);
  return ok;
}

async function ftsSearch<T>(
  target: SearchTarget,
  terms: Term[],
  match: "all" | "any",
  limit: number,
  marks: [string, string],
): Promise<SearchHit<T>[]> {
  const { fts, ids } = ftsNames(target.collection);
  // FTS5 sorts by rank itself and stops at the limit, so snippets are made for the top hits only.
  const sql =
    `select d.id as id, d.body as body, h.score as score, h.snip as snip from (` +
    `select rowid as rid, -rank as score, snippet("${fts}", -1, ?, ?, '…', ${SNIPPET_TOKENS}) as snip ` +
    `from "${fts}" where "${fts}" match ? order by rank limit ?` +
    `) h join "${ids}" i on i.rid = h.rid join _stowage_docs d on d.collection = ? and d.id = i.id order by h.score desc, d.id`;
  const rows = await target.read((db) =>
    all<{ id: string; body: string; score: number; snip: string | null }>(db, sql, [marks[0], marks[1], ftsMatch(terms, match), limit, target.collection]),
  );
  return rows.map((r) => ({ id: r.id, doc: JSON.parse(r.body) as Doc<T>, score: r.score, snippet: r.snip ?? "" }));
}

/** The fallback: every document whose fields contain the words, most words matched first. */
async function likeSearch<T>(
  db: Executor,
  collection: string,
  fields: string[],
  terms: Term[],
  match: "all" | "any",
  limit: number,
  marks: [string, string],
): Promise<SearchHit<T>[]> {
  const text = fields.map((f) => `coalesce(${fieldTextSql("body", f)}, '')`).join(` || ' ' || `);
  const tests = terms.map(() => `(t.text like ? escape '\\')`);
  const patterns = terms.map(likePattern);
  const sql =
    `select id, body, score from (select id, body, ${tests.join(" + ")} as score from ` +
    `(select id, body, ${text} as text from _stowage_docs where collection = ?) t) ` +
    `where score ${match === "all" ? `= ${terms.length}` : "> 0"} order by score desc, id desc limit ?`;
  const rows = await all<{ id: string; body: string; score: number }>(db, sql, [...patterns, collection, limit]);
  const words = terms.map((t) => t.text);
  return rows.map((r) => {
    const doc = JSON.parse(r.body) as Doc<T>;
    const best = fields.map((f) => fieldText(doc, f)).find((s) => words.some((w) => s.toLowerCase().includes(w.toLowerCase()))) ?? "";
    return { id: r.id, doc, score: Number(r.score), snippet: excerpt(best, words, marks) };
  });
}
