import type { Doc } from "../store/types.ts";

/** How the words of a query combine. */
export type SearchMatch = "all" | "any" | "auto";

/** Which machinery answered a search. */
export type SearchEngine = "fts5" | "like" | "scan";

export interface SearchOptions {
  /** Most hits to return, 1–1,000 (default 20). */
  limit?: number;
  /** `all` words (default), `any` word, or `auto`: all, then any when nothing matches all. */
  match?: SearchMatch;
  /** Force an engine; by default FTS5 when the SQLite build has it, else a LIKE scan. */
  engine?: "fts5" | "like";
  /** Marks around matched words in snippets (default `**` and `**`). */
  highlight?: [string, string];
}

export interface SearchHit<T> {
  /** The document's id. */
  id: string;
  /** The whole document as stored locally (pending local writes included). */
  doc: Doc<T>;
  /** Relevance, higher is better (negated bm25 with FTS5; words matched with LIKE and scan). */
  score: number;
  /** A short excerpt around the matched words, with the highlight marks. */
  snippet: string;
}

export interface SearchResult<T> {
  /** Hits, best first. */
  hits: SearchHit<T>[];
  /** The engine that answered. */
  engine: SearchEngine;
  /** How the words were combined in the end (`auto` resolves to `all` or `any`). */
  match: "all" | "any";
  /** The words searched for, after parsing the query. */
  terms: string[];
  /** Why results may differ from a ranked full-text search (the LIKE fallback says so here). */
  note?: string;
}
