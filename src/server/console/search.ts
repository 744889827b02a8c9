/**
 * The console's full-text search over one tenant's live documents, on either server store.
 *
 * The library's FTS5 index lives in each client's SQLite file; the server keeps documents as
 * JSON rows (SQLite or PostgreSQL) with no text index. So the server scans: it pages through
 * the tenant's live documents in (collection, id) order, up to MAX_SCANNED, joins each
 * document's strings and numbers (every field, at any depth) and keeps those containing every
 * word of the query, case-insensitively (the library's query syntax: words and "quoted
 * phrases"). Hits rank by how often the words occur. The answer says how many documents were
 * scanned and whether it stopped early, so a partial answer is never taken for a full one.
 */
import { StowageError } from "../../errors.ts";
import { parseQuery } from "../../search/query.ts";
import { excerpt } from "../../search/text.ts";
import { opaqueParam } from "../dialect-sql.ts";
import { HttpError } from "../http.ts";
import { num } from "../schema.ts";
import type { ServerStore } from "../store.ts";

/** Documents one search reads at most. */
export const MAX_SCANNED = 20_000;
/** Hits answered at most. */
export const MAX_HITS = 50;
const PAGE = 500;

export interface SearchHit {
  collection: string;
  id: string;
  version: number;
  /** Occurrences of the query's words. */
  score: number;
  /** Text around the first word found, unmarked (the page marks the words). */
  snippet: string;
}

export interface SearchAnswer {
  /** The words searched for, as parsed. */
  terms: string[];
  hits: SearchHit[];
  /** Documents read. */
  scanned: number;
  /** True when the scan stopped at MAX_SCANNED: later documents were not searched. */
  truncated: boolean;
}

export async function searchDocs(store: ServerStore, tenantId: string, query: string, options: { collection?: string; maxScanned?: number } = {}): Promise<SearchAnswer> {
  let terms: string[];
  try {
    terms = parseQuery(query).map((t) => t.text);
  } catch (e) {
    if (e instanceof StowageError) throw new HttpError(400, "bad_request", e.message);
    throw e;
  }
  const words = terms.map((t) => t.toLowerCase());
  const max = options.maxScanned ?? MAX_SCANNED;
  const hits: SearchHit[] = [];
  let scanned = 0;
  let after: [string, string] = ["", ""];
  let more = true;
  while (more && scanned < max) {
    let q = store.db
      .selectFrom("stowage_docs")
      .select(["collection", "id", "seq", "body"])
      .where("tenant_id", "=", opaqueParam(store.dialect, tenantId, "text"))
      .where("deleted", "=", 0);
    if (options.collection !== undefined) q = q.where("collection", "=", options.collection).where("id", ">", after[1]);
    else q = q.where((eb) => eb.or([eb("collection", ">", after[0]), eb.and([eb("collection", "=", after[0]), eb("id", ">", after[1])])]));
    const want = Math.min(PAGE, max - scanned);
    const rows = await q.orderBy("collection").orderBy("id").limit(opaqueParam(store.dialect, want, "integer")).execute();
    for (const r of rows) {
      const { id: _id, ...fields } = JSON.parse(r.body ?? "{}") as Record<string, unknown>;
      const text = allText(fields).join(" ");
      // The id counts for matching; the snippet shows the document's own text.
      const lower = `${r.id} ${text}`.toLowerCase();
      let score = 0;
      let all = true;
      for (const w of words) {
        const n = occurrences(lower, w);
        if (n === 0) all = false;
        score += n;
      }
      if (all) hits.push({ collection: r.collection, id: r.id, version: num(r.seq), score, snippet: excerpt(text, terms, ["", ""]) });
    }
    scanned += rows.length;
    more = rows.length === want;
    if (rows.length) after = [rows[rows.length - 1].collection, rows[rows.length - 1].id];
  }
  hits.sort((a, b) => b.score - a.score || (a.collection < b.collection ? -1 : a.collection > b.collection ? 1 : a.id < b.id ? -1 : 1));
  return { terms, hits: hits.slice(0, MAX_HITS), scanned, truncated: more && scanned >= max };
}

function occurrences(text: string, word: string): number {
  let n = 0;
  for (let i = text.indexOf(word); i >= 0; i = text.indexOf(word, i + word.length)) n++;
  return n;
}

/** Every string, number and boolean in a value, depth first (field names are not text). */
function allText(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (typeof value === "number" || typeof value === "boolean") out.push(String(value));
  else if (Array.isArray(value)) for (const v of value) allText(v, out);
  else if (value !== null && typeof value === "object") for (const v of Object.values(value)) allText(v, out);
  return out;
}
