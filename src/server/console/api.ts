/**
 * The console's admin JSON API under /console/api/…: tenants, keys, documents, clients, the
 * live change feed and a metrics summary. Every route needs the admin key (index.ts checks it
 * before this runs); tenant keys never open it.
 */
import { docListQuerySchema } from "../../protocol/wire.ts";
import { isPlainObject, type JsonObject } from "../../json.ts";
import { isStowageError } from "../../errors.ts";
import { isCollectionName, isDocId } from "../../names.ts";
import { getDoc, listDocs } from "../docs.ts";
import { HttpError, json, readJson } from "../http.ts";
import { createKey, createTenant, findTenant, listKeys, listTenants, revokeKey, type Tenant } from "../keys.ts";
import { listClients } from "../ops/clients.ts";
import { num } from "../schema.ts";
import type { ConsoleOptions } from "./options.ts";
import type { ChangeStreams } from "./changes.ts";
import { summarize } from "./summary.ts";
import { callHook } from "../ops/hooks.ts";
import { deleteTenant, renameTenant } from "../tenants.ts";
import { writeDoc, type DocWriter } from "../write.ts";
import { searchDocs } from "./search.ts";

const MAX_BODY = 4 * 1024 * 1024;

export async function consoleApi(req: Request, parts: string[], url: URL, o: ConsoleOptions, streams: ChangeStreams): Promise<Response> {
  const { store } = o;
  const m = req.method;
  const [head, a, b, c, d] = parts;
  try {
    if (head === "session" && parts.length === 1 && m === "GET") return json({ ok: true, store: store.dialect.name });
    if (head === "metrics" && parts.length === 1 && m === "GET") return json(summarize(o.metrics));
    if (head === "clients" && parts.length === 1 && m === "GET") return json(await listClients(store, url.searchParams.get("tenant") ?? undefined));
    if (head === "keys") {
      if (parts.length === 1 && m === "GET") return json(await listKeys(store, url.searchParams.get("tenant") ?? undefined));
      if (parts.length === 1 && m === "POST") {
        const body = await objectBody(req);
        const scope = body.scope ?? "write";
        const label = typeof body.label === "string" && body.label.trim() ? body.label.trim().slice(0, 200) : undefined;
        if (typeof body.tenant !== "string") throw new HttpError(400, "bad_request", "tenant is required");
        const k = await createKey(store, body.tenant, { label, scope: scope as "read" | "write" });
        return json({ id: k.id, key: k.key, tenant: k.tenant.name, scope: k.scope }, 201);
      }
      if (parts.length === 3 && b === "revoke" && m === "POST") return json(await revokeKey(store, a));
    }
    if (head === "tenants") {
      if (parts.length === 1 && m === "GET") return json(await tenantsWithCounts());
      if (parts.length === 1 && m === "POST") {
        const body = await objectBody(req);
        return json(await createTenant(store, body.name as string), 201);
      }
      const tenant = await tenantOf(a);
      if (parts.length === 2 && m === "PATCH") {
        const body = await objectBody(req);
        return json(await renameTenant(store, tenant.id, body.name as string));
      }
      if (parts.length === 2 && m === "DELETE") {
        // The page asks the operator to type the name; the API insists on it too, so a stray call cannot delete.
        if (url.searchParams.get("confirm") !== tenant.name) throw new HttpError(400, "bad_request", `deleting tenant ${tenant.name} needs ?confirm=${tenant.name}`);
        return json(await deleteTenant(store, tenant.id));
      }
      if (parts.length === 3 && b === "collections" && m === "GET") return json(await collections(tenant));
      if (parts.length === 3 && b === "search" && m === "GET") {
        const collection = url.searchParams.get("collection") || undefined;
        if (collection !== undefined) checkCollection(collection);
        return json(await searchDocs(store, tenant.id, url.searchParams.get("q") ?? "", { collection }));
      }
      if (parts.length === 3 && b === "changes" && m === "GET") {
        const after = url.searchParams.get("after");
        return streams.open(store, o.feed, tenant.id, after !== null && /^\d{1,15}$/.test(after) ? Number(after) : undefined);
      }
      if (b === "docs" && parts.length === 4 && m === "GET") {
        checkCollection(c);
        const q: Record<string, string> = {};
        for (const [k, v] of url.searchParams) q[k] = v;
        const parsed = docListQuerySchema.safeParse(q);
        if (!parsed.success) throw new HttpError(400, "bad_request", parsed.error.issues[0]?.message ?? "bad query");
        return json(await listDocs(store, tenant.id, c, parsed.data));
      }
      if (b === "docs" && parts.length === 5) {
        checkCollection(c);
        if (!isDocId(d)) throw new HttpError(400, "bad_request", `invalid document id ${JSON.stringify(String(d).slice(0, 80))}`);
        if (m === "GET") {
          const found = await getDoc(store, tenant.id, c, d);
          if (!found) throw new HttpError(404, "not_found", `no document ${c}/${d}`);
          return json(found);
        }
        const base = baseVersion(req.headers.get("if-match"));
        const write = { tenantId: tenant.id, collection: c, id: d, baseVersion: base, source: "console" as const };
        if (m === "PUT") {
          const value = await objectBody(req);
          return json(await writeDoc(writer(), { ...write, op: "put", value: { ...value, id: d } as JsonObject }));
        }
        if (m === "DELETE") return json({ deleted: true, version: (await writeDoc(writer(), { ...write, op: "delete" })).version });
      }
    }
    throw new HttpError(404, "not_found", `no console route ${m} /console/api/${parts.join("/").slice(0, 100)}`);
  } catch (e) {
    // Bad names, duplicate tenants, unknown keys: the library's input errors become 400s.
    if (isStowageError(e) && e.code === "input") throw new HttpError(400, "bad_request", e.message);
    throw e;
  }

  /** The write path `/v1/docs` uses (write.ts), on the server's clock, counted under source="console". */
  function writer(): DocWriter {
    return { store, feed: o.feed, now: o.now ?? Date.now, limits: limitsOf(o), onWrite: (source, tenantId, result) => callHook(o.hooks?.wrote, req, tenantId, source, result) };
  }

  async function tenantOf(nameOrId: string): Promise<Tenant> {
    const t = await findTenant(store, nameOrId ?? "");
    if (!t) throw new HttpError(404, "not_found", `no tenant ${JSON.stringify(String(nameOrId).slice(0, 80))}`);
    return t;
  }

  async function tenantsWithCounts() {
    const tenants = await listTenants(store);
    const seqs = await store.db.selectFrom("stowage_tenants").select(["id", "seq"]).execute();
    const counts = await store.db
      .selectFrom("stowage_docs")
      .select(["tenant_id", (eb) => eb.fn.countAll().as("n")])
      .where("deleted", "=", 0)
      .groupBy("tenant_id")
      .execute();
    return tenants.map((t) => ({
      ...t,
      seq: num(seqs.find((s) => s.id === t.id)?.seq ?? 0),
      docs: Number(counts.find((x) => x.tenant_id === t.id)?.n ?? 0),
    }));
  }

  async function collections(t: Tenant) {
    const rows = await store.db
      .selectFrom("stowage_docs")
      .select(["collection", (eb) => eb.fn.countAll().as("n")])
      .where("tenant_id", "=", t.id)
      .where("deleted", "=", 0)
      .groupBy("collection")
      .orderBy("collection")
      .execute();
    return rows.map((r) => ({ name: r.collection, docs: Number(r.n) }));
  }
}

function limitsOf(o: ConsoleOptions) {
  return { maxValueChars: o.limits?.maxValueChars ?? 1024 * 1024, maxValueDepth: o.limits?.maxValueDepth ?? 64 };
}

function checkCollection(c: string): void {
  if (!isCollectionName(c)) throw new HttpError(400, "bad_request", `invalid collection name ${JSON.stringify(String(c).slice(0, 80))}`);
}

async function objectBody(req: Request): Promise<Record<string, unknown>> {
  const body = await readJson(req, MAX_BODY);
  if (!isPlainObject(body)) throw new HttpError(400, "bad_request", "the body must be a JSON object");
  return body as Record<string, unknown>;
}

function baseVersion(header: string | null): number | null | undefined {
  if (header === null) return undefined;
  const m = /^"?(0|[1-9][0-9]{0,15})"?$/.exec(header.trim());
  if (!m) throw new HttpError(400, "bad_request", "If-Match must be a version number");
  return m[1] === "0" ? null : Number(m[1]);
}
