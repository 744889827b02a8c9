import { afterAll, beforeAll } from "bun:test";
import type { TestServer } from "../helpers/server.ts";
import { connect } from "node:net";
import { assertOpenApi } from "../helpers/openapi-check.ts";
import type { PullPage, PullResponse, PushRequest, PushResponse } from "../../src/protocol/wire.ts";

/** A bare protocol client for the server suite: plain fetch, nothing from src/sync. */
export function api(url: string, key: string) {
  const auth = { authorization: `Bearer ${key}` };
  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    // Every response the suite sees must match docs/openapi.json (status, type, body).
    assertOpenApi(method, `${url}${path}`, res.status, res.headers.get("content-type"), json, res.headers);
    return { status: res.status, json, text, headers: res.headers };
  }
  return {
    call,
    async push(req: PushRequest): Promise<PushResponse> {
      const r = await call("POST", "/v1/push", req);
      if (r.status !== 200) throw new Error(`push answered ${r.status}: ${r.text}`);
      return r.json;
    },
    async pull(cursor?: string, limit?: number): Promise<PullResponse> {
      const q = new URLSearchParams();
      if (cursor !== undefined) q.set("cursor", cursor);
      if (limit !== undefined) q.set("limit", String(limit));
      const r = await call("GET", `/v1/pull?${q}`);
      if (r.status !== 200) throw new Error(`pull answered ${r.status}: ${r.text}`);
      return r.json;
    },
    /** Pulls every page from `cursor`, answering the pages. */
    async pullAll(cursor?: string, limit?: number): Promise<PullPage[]> {
      const pages: PullPage[] = [];
      for (;;) {
        const page = await this.pull(cursor, limit);
        if ("reset" in page) throw new Error("unexpected reset");
        pages.push(page);
        cursor = page.cursor;
        if (!page.more) return pages;
      }
    },
  };
}

export type Api = ReturnType<typeof api>;

/** `n` put ops on `collection`, ids `${prefix}${i}`, op ids from `firstOpId`. */
export function puts(n: number, opts: { prefix?: string; firstOpId?: number; collection?: string } = {}) {
  const first = opts.firstOpId ?? 1;
  return Array.from({ length: n }, (_, i) => ({
    opId: first + i,
    collection: opts.collection ?? "todos",
    id: `${opts.prefix ?? "d"}${first + i}`,
    op: "put" as const,
    value: { title: `t${first + i}`, n: first + i },
  }));
}

/** Sends raw HTTP/1.1 bytes and answers the status line's code (for chunked bodies fetch would not send as asked). */
export async function rawStatus(url: string, head: string, chunks: string[]): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname, () => {
      sock.write(head);
      for (const c of chunks) sock.write(`${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`);
      sock.write("0\r\n\r\n");
    });
    let text = "";
    sock.on("data", (d) => {
      text += d.toString();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m) {
        resolve(Number(m[1]));
        sock.destroy();
      }
    });
    sock.on("error", (e) => (text ? undefined : reject(e)));
    sock.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
  });
}


/**
 * Registers a server for the enclosing describe block: started before its tests (then
 * `ready` receives it and an Api for its key), stopped after them.
 */
export function useServer(start: () => Promise<TestServer>, ready: (server: TestServer, api: Api) => void | Promise<void>): void {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await start();
    await ready(server, api(server.url, server.key));
  });
  afterAll(() => server?.stop());
}
