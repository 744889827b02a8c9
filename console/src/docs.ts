import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";

interface Collection { name: string; docs: number }
type Doc = Record<string, unknown> & { id: string };

/** The collection browser of one tenant: list (filter, order, pages), one document as JSON, edit, delete. */
export function DocsPage({ tenant }: { tenant: string }) {
  const [collections, setCollections] = useState<Collection[]>([]);
  const [collection, setCollection] = useState("");
  const [where, setWhere] = useState("");
  const [orderBy, setOrderBy] = useState("id");
  const [limit, setLimit] = useState("25");
  const [items, setItems] = useState<Doc[]>([]);
  const [cursors, setCursors] = useState<string[]>([""]);
  const [next, setNext] = useState<string | undefined>();
  const [open, setOpen] = useState<{ id: string; version: number; text: string } | null>(null);
  const [msg, setMsg] = useState("");
  const t = encodeURIComponent(tenant);

  const loadCollections = () =>
    api<Collection[]>(`tenants/${t}/collections`).then((cs) => {
      setCollections(cs);
      if (!collection && cs.length) setCollection(cs[0].name);
    }, (e) => setMsg(e.message));
  useEffect(() => {
    setCollection("");
    setOpen(null);
    setItems([]);
    if (tenant) void loadCollections();
  }, [tenant]);

  const load = async (cursor = cursors[cursors.length - 1]) => {
    if (!collection) return;
    const q = new URLSearchParams({ limit });
    if (cursor) q.set("cursor", cursor);
    if (where.trim()) q.set("where", where.trim());
    if (orderBy.trim() && orderBy.trim() !== "id") q.set("orderBy", orderBy.trim());
    try {
      const page = await api<{ items: Doc[]; next?: string }>(`tenants/${t}/docs/${encodeURIComponent(collection)}?${q}`);
      setItems(page.items);
      setNext(page.next);
    } catch (e) {
      setMsg((e as Error).message);
    }
  };
  useEffect(() => {
    setCursors([""]);
    void load("");
  }, [collection]);

  const show = async (id: string) => {
    try {
      const d = await api<{ value: Doc; version: number }>(`tenants/${t}/docs/${encodeURIComponent(collection)}/${encodeURIComponent(id)}`);
      setOpen({ id, version: d.version, text: JSON.stringify(d.value, null, 2) });
      setMsg("");
    } catch (e) {
      setMsg((e as Error).message);
    }
  };
  const save = async () => {
    if (!open) return;
    let value: unknown;
    try {
      value = JSON.parse(open.text);
    } catch (e) {
      return setMsg(`Not valid JSON: ${(e as Error).message}`);
    }
    try {
      const r = await api<{ version: number; value: Doc }>(`tenants/${t}/docs/${encodeURIComponent(collection)}/${encodeURIComponent(open.id)}`, {
        method: "PUT",
        body: value,
        headers: { "if-match": String(open.version) },
      });
      setOpen({ id: open.id, version: r.version, text: JSON.stringify(r.value, null, 2) });
      setMsg(`Saved ${collection}/${open.id} as version ${r.version}.`);
      void load();
    } catch (e) {
      setMsg((e as Error).message);
    }
  };
  const remove = async () => {
    if (!open) return;
    try {
      const r = await api<{ version: number }>(`tenants/${t}/docs/${encodeURIComponent(collection)}/${encodeURIComponent(open.id)}`, { method: "DELETE", headers: { "if-match": String(open.version) } });
      setMsg(`Deleted ${collection}/${open.id} (version ${r.version}).`);
      setOpen(null);
      void load();
      void loadCollections();
    } catch (e) {
      setMsg((e as Error).message);
    }
  };

  if (!tenant) return html`<p>Pick a tenant first.</p>`;
  return html`<section aria-labelledby="docs-h">
    <h2 id="docs-h">Documents of <b>${tenant}</b></h2>
    <form class="row" onSubmit=${(e: Event) => { e.preventDefault(); setCursors([""]); void load(""); }}>
      <label>Collection <select name="collection" value=${collection} onChange=${(e: any) => setCollection(e.currentTarget.value)}>
        ${collections.map((c) => html`<option value=${c.name}>${c.name} (${c.docs})</option>`)}</select></label>
      <label>Filter (where, JSON) <input name="where" placeholder='{"done":false}' value=${where} onInput=${(e: any) => setWhere(e.currentTarget.value)} /></label>
      <label>Order by <input name="order-by" size="8" value=${orderBy} onInput=${(e: any) => setOrderBy(e.currentTarget.value)} /></label>
      <label>Per page <select name="limit" value=${limit} onChange=${(e: any) => setLimit(e.currentTarget.value)}><option>10</option><option>25</option><option>100</option></select></label>
      <button type="submit">Apply</button>
      <button type="button" onClick=${() => { void loadCollections(); void load(); }}>Refresh</button>
    </form>
    ${msg ? html`<p role="status" class="msg">${msg}</p>` : null}
    <div class="split">
      <div class="scroll list"><table>
        <thead><tr><th>Id</th><th>Preview</th></tr></thead>
        <tbody>${items.map((d) => html`<tr key=${d.id} class=${open?.id === d.id ? "sel" : ""}>
          <td><button type="button" class="link" onClick=${() => show(d.id)}>${d.id}</button></td>
          <td class="preview">${JSON.stringify(d).slice(0, 120)}</td></tr>`)}
        ${items.length === 0 ? html`<tr><td colspan="2">${collection ? "No documents match." : "No collections yet."}</td></tr>` : null}</tbody>
      </table>
      <nav class="row" aria-label="Pages">
        <button type="button" disabled=${cursors.length < 2} onClick=${() => { const c = cursors.slice(0, -1); setCursors(c); void load(c[c.length - 1]); }}>Previous page</button>
        <span>page ${cursors.length}</span>
        <button type="button" disabled=${!next} onClick=${() => { setCursors([...cursors, next!]); void load(next); }}>Next page</button>
      </nav></div>
      ${open ? html`<div class="editor">
        <h3>${collection}/${open.id} <small>version ${open.version}</small></h3>
        <label for="doc-json">Document JSON</label>
        <textarea id="doc-json" spellcheck="false" rows="16" value=${open.text} onInput=${(e: any) => setOpen({ ...open, text: e.currentTarget.value })}></textarea>
        <div class="row"><button type="button" onClick=${save}>Save document</button>
        <button type="button" class="danger" onClick=${remove}>Delete document</button></div>
        <p class="hint">Saving and deleting go through the server's write path: the change takes a sequence number and every client pulls it. Saving fails with a conflict if the document changed since it was opened.</p>
      </div>` : null}
    </div>
  </section>`;
}
