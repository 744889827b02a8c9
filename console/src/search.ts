import { useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";

interface Hit { collection: string; id: string; version: number; score: number; snippet: string }
interface Answer { terms: string[]; hits: Hit[]; scanned: number; truncated: boolean }

/**
 * Full-text search over the tenant's live documents (server side, src/server/console/search.ts:
 * every word must occur in the document's text, case-insensitively; ranked by occurrences).
 */
export function SearchPanel({ tenant, collection, onOpen }: { tenant: string; collection: string; onOpen: (collection: string, id: string) => void }) {
  const [q, setQ] = useState("");
  const [only, setOnly] = useState(false);
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState("");
  const run = async (e: Event) => {
    e.preventDefault();
    const params = new URLSearchParams({ q });
    if (only && collection) params.set("collection", collection);
    try {
      setAnswer(await api<Answer>(`tenants/${encodeURIComponent(tenant)}/search?${params}`));
      setError("");
    } catch (err) {
      setError((err as Error).message);
      setAnswer(null);
    }
  };
  return html`<form class="row search" role="search" onSubmit=${run}>
      <label>Search documents <input type="search" name="search" placeholder=${'words or "a phrase"'} value=${q} onInput=${(e: any) => setQ(e.currentTarget.value)} /></label>
      <label class="check"><span><input type="checkbox" checked=${only} onChange=${(e: any) => setOnly(e.currentTarget.checked)} /> only ${collection || "this collection"}</span></label>
      <button type="submit">Search</button>
      ${answer ? html`<button type="button" onClick=${() => setAnswer(null)}>Clear</button>` : null}
    </form>
    ${error ? html`<p role="status" class="msg">${error}</p>` : null}
    ${answer ? html`<div class="hits" aria-label="Search results">
      <p class="hint">${answer.hits.length} match${answer.hits.length === 1 ? "" : "es"} for ${answer.terms.map((t) => `“${t}”`).join(" ")}; ${answer.scanned} document(s) searched${answer.truncated ? " (stopped there: later documents were not searched)" : ""}.</p>
      <ol>${answer.hits.map((h) => html`<li key=${`${h.collection}/${h.id}`}>
        <button type="button" class="link" onClick=${() => onOpen(h.collection, h.id)}>${h.collection}/${h.id}</button>
        <span class="preview">${marked(h.snippet, answer.terms)}</span></li>`)}</ol>
    </div>` : null}`;
}

/** The snippet with each occurrence of the words in <mark>, built as nodes (no HTML strings). */
function marked(text: string, words: string[]) {
  const needles = words.map((w) => w.toLowerCase()).filter(Boolean);
  const lower = text.toLowerCase();
  const out: unknown[] = [];
  let plain = "";
  for (let i = 0; i < text.length; ) {
    const hit = needles.find((n) => lower.startsWith(n, i));
    if (hit) {
      if (plain) out.push(plain);
      plain = "";
      out.push(html`<mark>${text.slice(i, i + hit.length)}</mark>`);
      i += hit.length;
    } else plain += text[i++];
  }
  if (plain) out.push(plain);
  return out;
}
