import { describeValue, StowageError } from "../errors.ts";
import type { Doc, ListOptions, ListPage } from "../store/types.ts";
import { assertSearchFields } from "./fts-index.ts";
import { parseQuery } from "./query.ts";
import { MAX_SEARCH_LIMIT } from "./search.ts";
import { excerpt, fieldText } from "./text.ts";
import type { SearchHit, SearchOptions, SearchResult } from "./types.ts";

/** Documents a scan reads at most; beyond that the result says it stopped early. */
export const MAX_SCAN = 10_000;

/**
 * Search without a local database (http-only mode): pages through the collection with `list`
 * and matches words as substrings, case-insensitively. Slow and unranked beyond words matched,
 * and the result says so; it exists so recall still answers in every mode.
 */
export async function scanSearch<T>(
  list: (options: ListOptions) => Promise<ListPage<T>>,
  collection: string,
  fieldsIn: readonly string[] | undefined,
  query: string,
  options: SearchOptions = {},
): Promise<SearchResult<T>> {
  const fields = assertSearchFields(collection, fieldsIn ? [...fieldsIn] : undefined);
  const terms = parseQuery(query);
  const limit = options.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) {
    throw new StowageError("input", `search limit must be an integer from 1 to ${MAX_SEARCH_LIMIT}, got ${describeValue(limit)}`);
  }
  const marks = options.highlight ?? ["**", "**"];
  const words = terms.map((t) => t.text.toLowerCase());
  const scored: { doc: Doc<T>; score: number; text: string }[] = [];
  let scanned = 0;
  let cursor: string | undefined;
  do {
    const page = await list({ limit: 1000, cursor });
    for (const doc of page.items) {
      const texts = fields.map((f) => fieldText(doc, f));
      const lower = texts.join("\n").toLowerCase();
      const score = words.filter((w) => lower.includes(w)).length;
      if (score > 0) scored.push({ doc, score, text: texts.find((t) => words.some((w) => t.toLowerCase().includes(w))) ?? "" });
    }
    scanned += page.items.length;
    cursor = page.next;
  } while (cursor && scanned < MAX_SCAN);
  const rank = (m: "all" | "any") =>
    scored
      .filter((s) => (m === "all" ? s.score === words.length : true))
      .sort((a, b) => b.score - a.score || (a.doc.id < b.doc.id ? 1 : -1))
      .slice(0, limit);
  const match = options.match ?? "all";
  let used: "all" | "any" = match === "any" ? "any" : "all";
  let top = rank(used);
  if (match === "auto" && top.length === 0 && words.length > 1) top = rank((used = "any"));
  const hits: SearchHit<T>[] = top.map((s) => ({ id: s.doc.id, doc: s.doc, score: s.score, snippet: excerpt(s.text, terms.map((t) => t.text), marks) }));
  const note =
    `http-only mode has no local index: scanned ${scanned} document(s) from the server for the words as substrings` +
    (cursor ? ` and stopped at ${MAX_SCAN}; later documents were not searched` : "");
  return { hits, engine: "scan", match: used, terms: terms.map((t) => t.text), note };
}
