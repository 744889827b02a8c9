import { useEffect, useState } from "preact/hooks";
import { api, when } from "./api.ts";
import { html } from "./html.ts";

interface TenantRow { id: string; name: string; createdAt: number; seq: number; docs: number }
interface KeyRow { id: string; tenantName: string; label: string | null; createdAt: number; revokedAt: number | null; scope: string }

/** Tenants (create, rename, delete with the name typed as confirmation) and their API keys. */
export function TenantsPage({ tenants, reload, onRenamed }: { tenants: TenantRow[]; reload: () => void; onRenamed: (from: string, to: string) => void }) {
  const [keys, setKeys] = useState<KeyRow[]>([]);
  const [name, setName] = useState("");
  const [keyTenant, setKeyTenant] = useState("");
  const [label, setLabel] = useState("");
  const [scope, setScope] = useState("write");
  const [secret, setSecret] = useState<{ id: string; key: string; tenant: string; scope: string } | null>(null);
  const [msg, setMsg] = useState("");
  const [renaming, setRenaming] = useState<{ from: string; to: string } | null>(null);
  const [deleting, setDeleting] = useState<{ tenant: TenantRow; typed: string } | null>(null);
  const loadKeys = () => api<KeyRow[]>("keys").then(setKeys, (e) => setMsg(e.message));
  useEffect(() => void loadKeys(), [tenants]);
  useEffect(() => {
    if (!keyTenant && tenants.length) setKeyTenant(tenants[0].name);
  }, [tenants]);

  const createTenant = async (e: Event) => {
    e.preventDefault();
    try {
      const t = await api<TenantRow>("tenants", { method: "POST", body: { name } });
      setMsg(`Tenant ${t.name} created.`);
      setKeyTenant(t.name);
      setName("");
      reload();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  const createKey = async (e: Event) => {
    e.preventDefault();
    try {
      setSecret(await api("keys", { method: "POST", body: { tenant: keyTenant, label, scope } }));
      setLabel("");
      setMsg("");
      loadKeys();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  const revoke = async (id: string) => {
    try {
      await api(`keys/${encodeURIComponent(id)}/revoke`, { method: "POST" });
      setMsg(`Key ${id} revoked.`);
      loadKeys();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };

  const rename = async (e: Event) => {
    e.preventDefault();
    if (!renaming) return;
    try {
      const t = await api<TenantRow>(`tenants/${encodeURIComponent(renaming.from)}`, { method: "PATCH", body: { name: renaming.to } });
      setMsg(`Tenant ${renaming.from} renamed to ${t.name}; its keys and data stay.`);
      if (keyTenant === renaming.from) setKeyTenant(t.name);
      onRenamed(renaming.from, t.name);
      setRenaming(null);
      reload();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  const remove = async (e: Event) => {
    e.preventDefault();
    if (!deleting) return;
    const name = deleting.tenant.name;
    try {
      const r = await api<{ docs: number; keys: number }>(`tenants/${encodeURIComponent(name)}?confirm=${encodeURIComponent(deleting.typed)}`, { method: "DELETE" });
      setMsg(`Tenant ${name} deleted with ${r.docs} document(s) and ${r.keys} key(s).`);
      if (keyTenant === name) setKeyTenant("");
      setDeleting(null);
      reload();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };

  return html`<section aria-labelledby="tenants-h">
    <h2 id="tenants-h">Tenants</h2>
    <div class="scroll"><table>
      <thead><tr><th>Name</th><th>Id</th><th class="num">Documents</th><th class="num">Seq</th><th>Created</th><th><span class="sr">Actions</span></th></tr></thead>
      <tbody>${tenants.map((t) => html`<tr key=${t.id}><td>${t.name}</td><td><code>${t.id}</code></td><td class="num">${t.docs}</td><td class="num">${t.seq}</td><td>${when(t.createdAt)}</td>
        <td class="actions"><button type="button" aria-label=${`Rename tenant ${t.name}`} onClick=${() => { setDeleting(null); setRenaming({ from: t.name, to: t.name }); }}>Rename</button>
        <button type="button" class="danger" aria-label=${`Delete tenant ${t.name}`} onClick=${() => { setRenaming(null); setDeleting({ tenant: t, typed: "" }); }}>Delete</button></td></tr>`)}
      ${tenants.length === 0 ? html`<tr><td colspan="6">No tenants yet.</td></tr>` : null}</tbody>
    </table></div>
    ${renaming ? html`<form class="row panel" onSubmit=${rename}>
      <label>New name for ${renaming.from} <input name="rename-to" value=${renaming.to} onInput=${(e: any) => setRenaming({ ...renaming, to: e.currentTarget.value })} required pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}" /></label>
      <button type="submit">Rename tenant</button> <button type="button" onClick=${() => setRenaming(null)}>Cancel</button>
      <p class="hint">Keys and data stay with the tenant; only its name changes (clients are unaffected: keys carry the tenant's id).</p>
    </form>` : null}
    ${deleting ? html`<form class="panel danger-zone" role="alertdialog" aria-labelledby="delete-h" onSubmit=${remove}>
      <h3 id="delete-h">Delete tenant ${deleting.tenant.name}?</h3>
      <p>This deletes its ${deleting.tenant.docs} document(s), their history and every key of the tenant; clients using those keys get 401 from now on. It cannot be undone.</p>
      <div class="row"><label>Type ${deleting.tenant.name} to confirm <input name="confirm-tenant" autocomplete="off" value=${deleting.typed} onInput=${(e: any) => setDeleting({ ...deleting, typed: e.currentTarget.value })} /></label>
      <button type="submit" class="danger" disabled=${deleting.typed !== deleting.tenant.name}>Delete tenant for good</button>
      <button type="button" onClick=${() => setDeleting(null)}>Cancel</button></div>
    </form>` : null}
    <form class="row" onSubmit=${createTenant}>
      <label>New tenant name <input name="tenant-name" value=${name} onInput=${(e: any) => setName(e.currentTarget.value)} required pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}" /></label>
      <button type="submit">Create tenant</button>
    </form>
    ${msg ? html`<p role="status" class="msg">${msg}</p>` : null}
  </section>
  <section aria-labelledby="keys-h">
    <h2 id="keys-h">API keys</h2>
    <form class="row" onSubmit=${createKey}>
      <label>Tenant <select name="key-tenant" value=${keyTenant} onChange=${(e: any) => setKeyTenant(e.currentTarget.value)}>
        ${tenants.map((t) => html`<option value=${t.name}>${t.name}</option>`)}</select></label>
      <label>Label <input name="key-label" value=${label} onInput=${(e: any) => setLabel(e.currentTarget.value)} /></label>
      <label>Scope <select name="key-scope" value=${scope} onChange=${(e: any) => setScope(e.currentTarget.value)}>
        <option value="write">write (push, pull, edit)</option><option value="read">read (pull, stream, GET)</option></select></label>
      <button type="submit" disabled=${!keyTenant}>Create key</button>
    </form>
    ${secret ? html`<div class="secret" role="alert">
      <p>New ${secret.scope} key for <b>${secret.tenant}</b>. Copy it now: it is not stored and will not be shown again.</p>
      <code data-testid="new-key">${secret.key}</code>
      <button type="button" onClick=${() => setSecret(null)}>Done</button></div>` : null}
    <div class="scroll"><table>
      <thead><tr><th>Key id</th><th>Tenant</th><th>Label</th><th>Scope</th><th>Created</th><th>Status</th><th><span class="sr">Actions</span></th></tr></thead>
      <tbody>${keys.map((k) => html`<tr key=${k.id}><td><code>${k.id}</code></td><td>${k.tenantName}</td><td>${k.label ?? ""}</td><td>${k.scope}</td><td>${when(k.createdAt)}</td>
        <td>${k.revokedAt ? `revoked ${when(k.revokedAt)}` : "active"}</td>
        <td>${k.revokedAt ? null : html`<button type="button" class="danger" aria-label=${`Revoke key ${k.id}`} onClick=${() => revoke(k.id)}>Revoke</button>`}</td></tr>`)}</tbody>
    </table></div>
  </section>`;
}
