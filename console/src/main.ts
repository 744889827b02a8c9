/**
 * The Stowage console: Preact + htm, bundled by Bun.build into src/server/console/assets.ts.
 * The admin key is kept in memory only and sent as a bearer header (README: Console).
 */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, setKey } from "./api.ts";
import { MetricsPage } from "./charts.ts";
import { ClientsPage } from "./clients.ts";
import { DocsPage } from "./docs.ts";
import { FeedPage } from "./feed.ts";
import { html } from "./html.ts";
import { TenantsPage } from "./tenants.ts";

const PAGES = [
  { id: "tenants", title: "Tenants & keys" },
  { id: "docs", title: "Documents" },
  { id: "clients", title: "Clients" },
  { id: "feed", title: "Live changes" },
  { id: "metrics", title: "Metrics" },
] as const;
type PageId = (typeof PAGES)[number]["id"];

function Login({ onIn }: { onIn: () => void }) {
  const [key, setValue] = useState("");
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setKey(key);
    try {
      await api("session");
      onIn();
    } catch (err) {
      setKey("");
      setError(err instanceof ApiError && err.status === 401 ? "That admin key was refused. Use the key given to serve with --admin-key or STOWAGE_ADMIN_KEY." : (err as Error).message);
    }
  };
  return html`<main class="login">
    <h1>Stowage console</h1>
    <form onSubmit=${submit}>
      <label for="admin-key">Admin key</label>
      <input id="admin-key" type="password" autocomplete="off" value=${key} onInput=${(e: any) => setValue(e.currentTarget.value)} required />
      <button type="submit">Log in</button>
      ${error ? html`<p role="alert" class="error">${error}</p>` : null}
      <p class="hint">The key stays in this tab's memory and is sent only as an Authorization header; reloading the page logs out.</p>
    </form>
  </main>`;
}

function App() {
  const [inside, setInside] = useState(false);
  const [page, setPage] = useState<PageId>("tenants");
  const [tenants, setTenants] = useState<any[]>([]);
  const [tenant, setTenant] = useState("");
  // The Documents page's collection, per tenant: kept here so switching tabs keeps the choice.
  const [collections, setCollections] = useState<Record<string, string>>({});
  const reload = () =>
    api<any[]>("tenants").then((ts) => {
      setTenants(ts);
      // Functional update: a rename may have just changed the selected name.
      setTenant((cur) => (ts.some((t) => t.name === cur) ? cur : (ts[0]?.name ?? "")));
    });
  const renamed = (from: string, to: string) => {
    setTenant((cur) => (cur === from ? to : cur));
    setCollections((cs) => {
      const { [from]: c, ...rest } = cs;
      return c === undefined ? cs : { ...rest, [to]: c };
    });
  };
  useEffect(() => {
    if (inside) void reload();
  }, [inside]);
  if (!inside) return html`<${Login} onIn=${() => setInside(true)} />`;
  const body =
    page === "tenants" ? html`<${TenantsPage} tenants=${tenants} reload=${reload} onRenamed=${renamed} />`
    : page === "docs" ? html`<${DocsPage} tenant=${tenant} collection=${collections[tenant] ?? ""} onCollection=${(c: string) => setCollections((cs) => ({ ...cs, [tenant]: c }))} />`
    : page === "clients" ? html`<${ClientsPage} tenant=${tenant} />`
    : page === "feed" ? html`<${FeedPage} tenant=${tenant} />`
    : html`<${MetricsPage} />`;
  return html`<header>
      <h1>Stowage</h1>
      <nav aria-label="Pages"><ul>${PAGES.map((p) => html`<li><button type="button" aria-current=${page === p.id ? "page" : undefined} onClick=${() => { setPage(p.id); if (p.id === "tenants") void reload(); }}>${p.title}</button></li>`)}</ul></nav>
      <label class="tenant-pick">Tenant <select name="tenant" value=${tenant} onChange=${(e: any) => setTenant(e.currentTarget.value)}>
        ${tenants.map((t) => html`<option value=${t.name}>${t.name}</option>`)}</select></label>
      <button type="button" class="logout" onClick=${() => { setKey(""); setInside(false); }}>Log out</button>
    </header>
    <main>${body}</main>`;
}

render(html`<${App} />`, document.getElementById("app")!);
