import { serve } from "../../src/runtime/serve.ts";
import { createServerHandler } from "../../src/server/index.ts";
import type { TestServer } from "../helpers/server.ts";

/**
 * Deliberately broken servers for the conformance kit's own tests: the real handler on the
 * test server's store, with one protocol rule broken by tampering with requests or responses.
 */
type Handler = (req: Request) => Promise<Response>;

/** Forgets op ids: every push's ops get fresh ids, so a resent push is applied again. */
export function reapplyDuplicates(inner: Handler): Handler {
  let round = 0;
  return async (req) => {
    const url = new URL(req.url);
    if (req.method !== "POST" || url.pathname !== "/v1/push") return inner(req);
    const text = await req.text();
    let body: { clientId: string; ops: { opId: number; tx?: number }[] };
    try {
      body = JSON.parse(text);
      if (!Array.isArray(body.ops)) throw new Error("no ops");
    } catch {
      return inner(new Request(req.url, { method: "POST", headers: req.headers, body: text })); // malformed: the real refusal
    }
    const offset = ++round * 1_000_000;
    const ops = body.ops.map((o) => ({ ...o, opId: o.opId + offset, ...(o.tx ? { tx: o.tx + offset } : {}) }));
    const res = await inner(new Request(req.url, { method: "POST", headers: req.headers, body: JSON.stringify({ ...body, ops }) }));
    if (res.status !== 200) return res;
    const out = (await res.json()) as { results: { opId: number }[]; lastOpId: number };
    out.results.forEach((r) => (r.opId -= offset));
    return Response.json({ ...out, lastOpId: out.lastOpId - offset });
  };
}

/**
 * Orders pull pages by write timestamps from two skewed clocks (alternate writes are stamped
 * 5 s early), as a server ordering by time instead of commit sequence would.
 */
export function orderPullByTimestamp(inner: Handler): Handler {
  const stamps = new Map<string, number>();
  let n = 0;
  return async (req) => {
    const url = new URL(req.url);
    if (req.method === "POST" && url.pathname === "/v1/push") {
      const text = await req.text();
      let ops: { collection: string; id: string }[] = [];
      try {
        ops = JSON.parse(text).ops ?? [];
      } catch {} // malformed: the real handler refuses it
      for (const op of Array.isArray(ops) ? ops : []) stamps.set(`${op.collection}/${op.id}`, Date.now() + n + (n++ % 2 ? -5000 : 0));
      return inner(new Request(req.url, { method: "POST", headers: req.headers, body: text }));
    }
    const res = await inner(req);
    if (req.method !== "GET" || url.pathname !== "/v1/pull" || res.status !== 200) return res;
    const page = (await res.json()) as { changes?: { collection: string; id: string; version: number }[] };
    const at = (c: { collection: string; id: string; version: number }) => stamps.get(`${c.collection}/${c.id}`) ?? c.version;
    page.changes?.sort((x, y) => at(x) - at(y));
    return Response.json(page);
  };
}

/** Serves `wrap(handler)` over the store of `base` (a started TestServer) on its own port. */
export async function startBroken(base: TestServer, wrap: (h: Handler) => Handler): Promise<{ url: string; stop(): Promise<void> }> {
  const server = await serve({ fetch: wrap(createServerHandler({ store: base.store, limits: { rate: false } })), port: 0 });
  return { url: server.url, stop: () => server.stop() };
}
