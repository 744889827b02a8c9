import { StowageError, describeValue } from "../errors.ts";

/** One word or quoted phrase of a user's query. */
export interface Term {
  /** The text as typed, without the quotes or the trailing `*`. */
  text: string;
  /** Typed with a trailing `*`: matches words that start with it. */
  prefix: boolean;
}

export const MAX_QUERY_CHARS = 1_000;
export const MAX_TERMS = 32;

/**
 * Splits a user's query into words and `"quoted phrases"`. Nothing the user types is FTS5
 * syntax: operators (`OR`, `NOT`, `NEAR`), column filters and stray quotes are plain words,
 * so any input is a valid query. Pieces without a letter or digit are dropped.
 */
export function parseQuery(query: unknown): Term[] {
  if (typeof query !== "string") throw new StowageError("input", `search query must be a string, got ${describeValue(query)}`);
  if (query.length > MAX_QUERY_CHARS) {
    throw new StowageError("input", `search query is ${query.length} characters; the most is ${MAX_QUERY_CHARS}`);
  }
  const terms: Term[] = [];
  for (const m of query.matchAll(/"([^"]*)"|(\S+)/g)) {
    let text = m[1] ?? m[2];
    let prefix = false;
    if (m[1] === undefined && /[^*]\*+$/.test(text)) {
      text = text.replace(/\*+$/, "");
      prefix = true;
    }
    if (/[\p{L}\p{N}]/u.test(text)) terms.push({ text: text.trim(), prefix });
  }
  if (terms.length === 0) throw new StowageError("input", `search query ${describeValue(query)} has no words to search for`);
  if (terms.length > MAX_TERMS) throw new StowageError("input", `search query has ${terms.length} words; the most is ${MAX_TERMS}`);
  return terms;
}

/** The FTS5 MATCH expression: every term a quoted string (quotes doubled), joined by AND or OR. */
export function ftsMatch(terms: Term[], match: "all" | "any"): string {
  return terms.map((t) => `"${t.text.replace(/"/g, '""')}"${t.prefix ? "*" : ""}`).join(match === "all" ? " AND " : " OR ");
}

/** A LIKE pattern (escape character `\`) that finds `text` anywhere. */
export function likePattern(term: Term): string {
  return `%${term.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
