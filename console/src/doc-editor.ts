import { api, ApiError } from "./api.ts";
import { html } from "./html.ts";

/** The document in the editor: `loaded` is the text as last read, to tell an edit from a refresh. */
export interface OpenDoc {
  collection: string;
  id: string;
  version: number;
  text: string;
  loaded: string;
  /** Not stored yet: the id and collection are editable, and saving must not overwrite. */
  isNew: boolean;
  /** What the change stream said about it while it was open. */
  remote?: string;
}

const COLLECTION = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * One document as JSON: save (PUT with If-Match: the version loaded, or 0 for a new one, so it
 * never overwrites a document it did not see), delete (If-Match too), reload.
 */
export function DocEditor({ tenant, doc, onChange, onMessage, onSaved }: {
  tenant: string;
  doc: OpenDoc;
  onChange: (d: OpenDoc | null) => void;
  onMessage: (m: string) => void;
  onSaved: (collection: string) => void;
}) {
  const t = encodeURIComponent(tenant);
  const path = () => `tenants/${t}/docs/${encodeURIComponent(doc.collection)}/${encodeURIComponent(doc.id)}`;
  const save = async () => {
    if (doc.isNew && !COLLECTION.test(doc.collection)) return onMessage("The collection name must be a-z, 0-9 or _, starting with a letter.");
    if (doc.isNew && !doc.id.trim()) doc = { ...doc, id: crypto.randomUUID() };
    let value: unknown;
    try {
      value = JSON.parse(doc.text);
    } catch (e) {
      return onMessage(`Not valid JSON: ${(e as Error).message}`);
    }
    try {
      const r = await api<{ version: number; value: unknown }>(path(), { method: "PUT", body: value, headers: { "if-match": String(doc.isNew ? 0 : doc.version) } });
      const text = JSON.stringify(r.value, null, 2);
      onChange({ ...doc, version: r.version, text, loaded: text, isNew: false, remote: undefined });
      onMessage(`${doc.isNew ? "Created" : "Saved"} ${doc.collection}/${doc.id} as version ${r.version}.`);
      onSaved(doc.collection);
    } catch (e) {
      // If-Match: 0 refused: the id is taken (the server's words are about versions).
      if (doc.isNew && e instanceof ApiError && e.status === 409) return onMessage(`${doc.collection}/${doc.id} already exists; open it from the list to edit it.`);
      onMessage((e as Error).message);
    }
  };
  const remove = async () => {
    try {
      const r = await api<{ version: number }>(path(), { method: "DELETE", headers: { "if-match": String(doc.version) } });
      onMessage(`Deleted ${doc.collection}/${doc.id} (version ${r.version}).`);
      onChange(null);
    } catch (e) {
      onMessage((e as Error).message);
    }
  };
  const reload = async () => {
    try {
      const d = await api<{ value: unknown; version: number }>(path());
      const text = JSON.stringify(d.value, null, 2);
      onChange({ ...doc, version: d.version, text, loaded: text, remote: undefined });
    } catch (e) {
      onMessage((e as Error).message);
      onChange(null);
    }
  };

  return html`<div class="editor">
    ${doc.isNew
      ? html`<h3>New document</h3>
        <div class="row">
          <label>Collection <input name="new-collection" value=${doc.collection} onInput=${(e: any) => onChange({ ...doc, collection: e.currentTarget.value.trim() })} /></label>
          <label>Id (empty: a new UUID) <input name="new-id" value=${doc.id} onInput=${(e: any) => onChange({ ...doc, id: e.currentTarget.value.trim() })} /></label>
        </div>`
      : html`<h3>${doc.collection}/${doc.id} <small>version ${doc.version}</small></h3>`}
    ${doc.remote ? html`<p role="status" class="msg" data-testid="doc-remote">This document was ${doc.remote}.</p>` : null}
    <label for="doc-json">Document JSON</label>
    <textarea id="doc-json" spellcheck="false" rows="16" value=${doc.text} onInput=${(e: any) => onChange({ ...doc, text: e.currentTarget.value })}></textarea>
    <div class="row">
      <button type="button" onClick=${save}>${doc.isNew ? "Create document" : "Save document"}</button>
      ${doc.isNew ? html`<button type="button" onClick=${() => { onChange(null); onMessage(""); }}>Cancel</button>`
      : html`<button type="button" class="danger" onClick=${remove}>Delete document</button>
        <button type="button" onClick=${reload}>Reload</button>`}
    </div>
    <p class="hint">Saving and deleting go through the server's single-document write path (the one PUT/DELETE /v1/docs uses): the change takes a sequence number and reaches live clients with its value. A save is refused as a conflict if the document changed since it was loaded; creating refuses an id that exists.</p>
  </div>`;
}
