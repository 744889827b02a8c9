import { useEffect, useState } from "preact/hooks";
import { stream } from "./api.ts";
import { html } from "./html.ts";

interface Change { seq: number; collection: string; id: string; deleted: boolean; writer: string | null; updatedAt: number; value: unknown }

/** Live changes of one tenant: the server pokes, then sends the rows with seq > the last one shown. */
export function FeedPage({ tenant }: { tenant: string }) {
  const [changes, setChanges] = useState<Change[]>([]);
  const [head, setHead] = useState<number | null>(null);
  const [state, setState] = useState("connecting");
  useEffect(() => {
    setChanges([]);
    if (!tenant) return;
    return stream(
      `tenants/${encodeURIComponent(tenant)}/changes`,
      (event, data) => {
        if (event === "head") setHead(JSON.parse(data).seq);
        if (event === "changes") {
          const rows = JSON.parse(data) as Change[];
          setHead(rows[rows.length - 1].seq);
          setChanges((old) => [...rows.reverse(), ...old].slice(0, 200));
        }
      },
      setState,
    );
  }, [tenant]);
  if (!tenant) return html`<p>Pick a tenant first.</p>`;
  return html`<section aria-labelledby="feed-h">
    <h2 id="feed-h">Live changes of <b>${tenant}</b></h2>
    <p class="hint">Stream: <span data-testid="feed-state">${state}</span>; tenant seq ${head ?? "…"}. Newest first; writes from any client or this console appear as they commit.</p>
    <ol class="feed" aria-live="polite">${changes.map((c) => html`<li key=${c.seq} class=${c.deleted ? "del" : ""}>
      <span class="seq">#${c.seq}</span> <span class="time">${new Date(c.updatedAt).toLocaleTimeString()}</span>
      <b>${c.deleted ? "delete" : "put"}</b> <code>${c.collection}/${c.id}</code> <span class="writer">${c.writer ? `by ${c.writer}` : "direct write"}</span>
      ${c.deleted ? null : html`<div class="preview">${JSON.stringify(c.value).slice(0, 200)}</div>`}</li>`)}
    </ol>
    ${changes.length === 0 ? html`<p>No changes since the page opened.</p>` : null}
  </section>`;
}
