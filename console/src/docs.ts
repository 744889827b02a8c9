import { useEffect, useRef, useState } from "preact/hooks";
import { api, stream } from "./api.ts";
import { DocEditor, type OpenDoc } from "./doc-editor.ts";
import { html } from "./html.ts";
import { SearchPanel } from "./search.ts";

interface Collection { name: string; docs: number }
type Doc = Record<string, unknown> & { id: string };
interface Change { seq: number; collection: string; id: string; deleted: boolean; value: Doc | null }

/**
 * The collection browser of one tenant: list (filter, order, pages), kept current from the
 * tenant's change stream; one document as JSON to edit or delete; a new document; full-text
 * search. The chosen collection lives in the app (`collection`, `onCollection`), so it
 * survives switching tabs.
 */
export function DocsPage({ tenant, collection, onCollection }: { tenant: string; collection: string; onCollection: (c: string) => void }) {
  const [collections, setCollections] = useState<Collection[]>([]);
  const [where, setWhere] = useState("");
  const [orderBy, setOrderBy] = useState("id");
  const [limit, setLimit] = useState("25");
  const [items, setItems] = useState<Doc[]>([]);
  const [cursors, setCursors] = useState<string[]>([""]);
  const [next, setNext] = useState<string | undefined>();
  const [open, setOpen] = useState<OpenDoc | null>(null);
  const [msg, setMsg] = useState("");
  const [live, setLive] = useState("connecting");
  const t = encodeURIComponent(tenant);
  // The stream's handler outlives renders: it reads the current values through this ref.
  const now = useRef({ collection, cursors, open, where, orderBy, limit });
  now.current = { collection, cursors, open, where, orderBy, limit };

  const loadCollections = () =>
    api<Collection[]>(`tenants/${t}/collections`).then((cs) => {
      setCollections(cs);
      if (!now.current.collection && cs.length) onCollection(cs[0].name);
    }, (e) => setMsg(e.message));

  const load = async (cursor = now.current.cursors[now.current.cursors.length - 1]) => {
    const { collection: c, where: w, orderBy: o, limit: l } = now.current;
    if (!c) return setItems([]);
    const q = new URLSearchParams({ limit: l });
    if (cursor) q.set("cursor", cursor);
    if (w.trim()) q.set("where", w.trim());
    if (o.trim() && o.trim() !== "id") q.set("orderBy", o.trim());
    try {
      const page = await api<{ items: Doc[]; next?: string }>(`tenants/${t}/docs/${encodeURIComponent(c)}?${q}`);
      setItems(page.items);
      setNext(page.next);
    } catch (e) {
      setMsg((e as Error).message);
    }
  };

  useEffect(() => {
    setOpen(null);
    setItems([]);
    if (!tenant) return;
    void loadCollections();
    // Live: each commit's rows arrive on the tenant's change stream; the page showing them is
    // re-read (filters, order and pages stay right) and the open document follows along.
    let timer: ReturnType<typeof setTimeout> | undefined;
    return stream(
      `tenants/${t}/changes`,
      (event, data) => {
        if (event !== "changes") return;
        const rows = JSON.parse(data) as Change[];
        const cur = now.current;
        const opened = cur.open && rows.filter((r) => r.collection === cur.collection && r.id === cur.open!.id).pop();
        if (opened && cur.open) setOpen(followed(cur.open, opened));
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          void loadCollections();
          if (rows.some((r) => r.collection === now.current.collection)) void load();
        }, 100);
      },
      setLive,
    );
  }, [tenant]);
  useEffect(() => {
    setCursors([""]);
    now.current.cursors = [""];
    void load("");
  }, [collection, tenant]);

  const show = async (c: string, id: string) => {
    try {
      const d = await api<{ value: Doc; version: number }>(`tenants/${t}/docs/${encodeURIComponent(c)}/${encodeURIComponent(id)}`);
      if (c !== collection) onCollection(c);
      const text = JSON.stringify(d.value, null, 2);
      setOpen({ collection: c, id, version: d.version, text, loaded: text, isNew: false });
      setMsg("");
    } catch (e) {
      setMsg((e as Error).message);
    }
  };

  if (!tenant) return html`<p>Pick a tenant first.</p>`;
  return html`<section aria-labelledby="docs-h">
    <h2 id="docs-h">Documents of <b>${tenant}</b> <small class="hint">list: <span data-testid="docs-live">${live}</span></small></h2>
    <${SearchPanel} tenant=${tenant} collection=${collection} onOpen=${show} />
    <form class="row" onSubmit=${(e: Event) => { e.preventDefault(); setCursors([""]); now.current.cursors = [""]; void load(""); }}>
      <label>Collection <select name="collection" value=${collection} onChange=${(e: any) => onCollection(e.currentTarget.value)}>
        ${collections.map((c) => html`<option value=${c.name}>${c.name} (${c.docs})</option>`)}
        ${collection && !collections.some((c) => c.name === collection) ? html`<option value=${collection}>${collection} (0)</option>` : null}</select></label>
      <label>Filter (where, JSON) <input name="where" placeholder='{"done":false}' value=${where} onInput=${(e: any) => setWhere(e.currentTarget.value)} /></label>
      <label>Order by <input name="order-by" size="8" value=${orderBy} onInput=${(e: any) => setOrderBy(e.currentTarget.value)} /></label>
      <label>Per page <select name="limit" value=${limit} onChange=${(e: any) => setLimit(e.currentTarget.value)}><option>10</option><option>25</option><option>100</option></select></label>
      <button type="submit">Apply</button>
      <button type="button" onClick=${() => { setMsg(""); setOpen({ collection: collection || "", id: "", version: 0, text: "{\n  \n}", loaded: "", isNew: true }); }}>New document</button>
    </form>
    ${msg ? html`<p role="status" class="msg">${msg}</p>` : null}
    <div class="split">
      <div class="scroll list"><table>
        <thead><tr><th>Id</th><th>Preview</th></tr></thead>
        <tbody>${items.map((d) => html`<tr key=${d.id} class=${open?.id === d.id && open.collection === collection ? "sel" : ""}>
          <td><button type="button" class="link" onClick=${() => show(collection, d.id)}>${d.id}</button></td>
          <td class="preview">${JSON.stringify(d).slice(0, 120)}</td></tr>`)}
        ${items.length === 0 ? html`<tr><td colspan="2">${collection ? "No documents match." : "No collections yet: create a document."}</td></tr>` : null}</tbody>
      </table>
      <nav class="row" aria-label="List pages">
        <button type="button" disabled=${cursors.length < 2} onClick=${() => { const c = cursors.slice(0, -1); setCursors(c); now.current.cursors = c; void load(c[c.length - 1]); }}>Previous page</button>
        <span>page ${cursors.length}</span>
        <button type="button" disabled=${!next} onClick=${() => { const c = [...cursors, next!]; setCursors(c); now.current.cursors = c; void load(next); }}>Next page</button>
      </nav></div>
      ${open ? html`<${DocEditor} tenant=${tenant} doc=${open} onChange=${setOpen} onMessage=${setMsg}
        onSaved=${(c: string) => { if (c !== collection) onCollection(c); }} />` : null}
    </div>
  </section>`;
}

/** The open document after a change to it arrived: replaced when unedited, flagged when edited. */
function followed(doc: OpenDoc, change: Change): OpenDoc {
  if (change.seq <= doc.version) return doc;
  if (change.deleted) return { ...doc, remote: `deleted on the server (version ${change.seq})` };
  if (doc.text === doc.loaded) {
    const text = JSON.stringify(change.value, null, 2);
    return { ...doc, version: change.seq, text, loaded: text, remote: undefined };
  }
  return { ...doc, remote: `changed on the server (version ${change.seq}) while you edit: saving will be refused as a conflict; reload to take it` };
}
