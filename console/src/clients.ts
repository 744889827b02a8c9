import { useEffect, useState } from "preact/hooks";
import { api, when } from "./api.ts";
import { html } from "./html.ts";

interface ClientRow { tenant: string; clientId: string; lastOpId: number; lastPushAt: number | null; lastPullAt: number | null; pulledSeq: number | null; tenantSeq: number; behind: number | null }

export function ClientsPage({ tenant }: { tenant: string }) {
  const [rows, setRows] = useState<ClientRow[]>([]);
  const [msg, setMsg] = useState("");
  useEffect(() => {
    const load = () => api<ClientRow[]>(`clients${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ""}`).then(setRows, (e) => setMsg(e.message));
    load();
    const timer = setInterval(load, 3000);
    return () => clearInterval(timer);
  }, [tenant]);
  const worst = Math.max(1, ...rows.map((r) => r.behind ?? 0));
  return html`<section aria-labelledby="clients-h">
    <h2 id="clients-h">Clients ${tenant ? html`of <b>${tenant}</b>` : "of every tenant"}</h2>
    <p class="hint">Lag is how many changes a client has not pulled yet (the tenant's seq minus its last pulled cursor). Refreshes every 3 s.</p>
    ${msg ? html`<p role="status" class="msg">${msg}</p>` : null}
    <div class="scroll"><table>
      <thead><tr><th>Tenant</th><th>Client id</th><th class="num">Last op</th><th>Last push</th><th>Last pull</th><th class="num">Pulled seq</th><th class="num">Tenant seq</th><th>Behind</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr key=${r.tenant + r.clientId}><td>${r.tenant}</td><td><code>${r.clientId}</code></td><td class="num">${r.lastOpId}</td>
        <td>${when(r.lastPushAt)}</td><td>${when(r.lastPullAt)}</td><td class="num">${r.pulledSeq ?? "—"}</td><td class="num">${r.tenantSeq}</td>
        <td><span class="lag"><span class="bar" style=${`width:${Math.round(((r.behind ?? 0) / worst) * 100)}%`}></span></span> ${r.behind ?? "?"}</td></tr>`)}
      ${rows.length === 0 ? html`<tr><td colspan="8">No clients yet.</td></tr>` : null}</tbody>
    </table></div>
  </section>`;
}
