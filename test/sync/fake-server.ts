import { mergePatch, type JsonObject } from "../../src/json.ts";

/**
 * A tiny in-memory protocol-v1 server behind an injected `fetch`, for engine unit tests that
 * must run without sockets or sleeps. The integration tests use the real server instead.
 */
export class FakeServer {
  seq = 0;
  horizon = 0;
  docs = new Map<string, { collection: string; id: string; value: JsonObject | null; version: number; client: string }>();
  marks = new Map<string, number>();
  /** Every request path, in order. */
  log: string[] = [];
  /** Fail every request as a dropped connection while true. */
  down = false;
  /** Answer the next N requests 429 with Retry-After: 7. */
  rateLimited = 0;
  /** Apply the next N pushes, then lose their answers. */
  dropAfterCommit = 0;
  /** Answer `conflict` for ops on these `collection/id` keys that carry a baseVersion. */
  strict = new Set<string>();
  /** Most push requests ever in flight at once (the client must keep this at 1). */
  maxPushesInFlight = 0;
  /** The `settled` mark of every push request, in order. */
  settled: (number | undefined)[] = [];
  #pushesInFlight = 0;

  fetch = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input);
    this.log.push(`${init.method ?? "GET"} ${url.pathname}`);
    if (this.down) throw new TypeError("fetch failed: connection refused");
    if (this.rateLimited > 0) {
      this.rateLimited--;
      return Response.json({ error: { code: "rate_limited", message: "slow down" } }, { status: 429, headers: { "retry-after": "7" } });
    }
    if (url.pathname === "/v1/push") {
      this.maxPushesInFlight = Math.max(this.maxPushesInFlight, ++this.#pushesInFlight);
      // Yield a few turns, as a network would, so overlapping requests would show.
      for (let i = 0; i < 5; i++) await Promise.resolve();
      this.#pushesInFlight--;
      // A value the server refuses outright: the whole request is answered 400, nothing applied.
      if (String(init.body).includes('"poison":true')) {
        return Response.json({ error: { code: "bad_request", message: "ops[?].value: poisoned" } }, { status: 400 });
      }
      const req = JSON.parse(String(init.body));
      this.settled.push(req.settled);
      const res = this.#push(req);
      if (this.dropAfterCommit > 0) {
        this.dropAfterCommit--;
        throw new TypeError("fetch failed: socket closed");
      }
      return Response.json(res);
    }
    if (url.pathname === "/v1/pull") return Response.json(this.#pull(url.searchParams.get("cursor"), Number(url.searchParams.get("limit") ?? 500)));
    const m = /^\/v1\/docs\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (m && (init.method ?? "GET") === "GET") {
      const doc = this.docs.get(`${m[1]}/${decodeURIComponent(m[2])}`);
      if (!doc || doc.value === null) return Response.json({ error: { code: "not_found", message: "no" } }, { status: 404 });
      return Response.json({ value: doc.value, version: doc.version });
    }
    return Response.json({ error: { code: "not_found", message: url.pathname } }, { status: 404 });
  };

  /** A write by another client, straight into the server state. */
  write(collection: string, id: string, value: JsonObject | null, client = "other-client"): number {
    const version = ++this.seq;
    this.docs.set(`${collection}/${id}`, { collection, id, value: value && { ...value, id }, version, client });
    return version;
  }

  value(collection: string, id: string): JsonObject | null | undefined {
    return this.docs.get(`${collection}/${id}`)?.value;
  }

  #push(body: { clientId: string; ops: any[] }) {
    const mark = this.marks.get(body.clientId) ?? 0;
    const results = body.ops.map((op) => {
      if (op.opId <= mark) return { opId: op.opId, status: "duplicate" };
      const key = `${op.collection}/${op.id}`;
      const cur = this.docs.get(key);
      if ("baseVersion" in op && this.strict.has(key) && cur && cur.version !== op.baseVersion && cur.client !== body.clientId) {
        return { opId: op.opId, status: "conflict", version: cur.version, value: cur.value, error: { code: "conflict", message: "stale" } };
      }
      if (op.op === "patch" && (!cur || cur.value === null)) {
        return { opId: op.opId, status: "rejected", error: { code: "not_found", message: `no ${key}` } };
      }
      const value = op.op === "delete" ? null : op.op === "put" ? op.value : (mergePatch(cur!.value!, op.value) as JsonObject);
      return { opId: op.opId, status: "applied", version: this.write(op.collection, op.id, value, body.clientId) };
    });
    const lastOpId = Math.max(mark, ...body.ops.map((o) => o.opId));
    this.marks.set(body.clientId, lastOpId);
    return { results, lastOpId };
  }

  #pull(cursor: string | null, limit: number) {
    const after = cursor ? Number(cursor.slice(3)) : 0;
    if (cursor && after < this.horizon) return { reset: true };
    const all = [...this.docs.values()].filter((d) => d.version > after).sort((a, b) => a.version - b.version);
    const page = all.slice(0, limit);
    const last = page.length ? page[page.length - 1].version : after;
    return {
      changes: page.map((d) => ({ collection: d.collection, id: d.id, version: d.version, value: d.value, deleted: d.value === null })),
      cursor: `v1.${last}`,
      more: all.length > limit,
    };
  }
}

/** A manual clock: timers fire only when a test calls `advance`. */
export class FakeClock {
  t = 1_000_000;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;

  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.#next++;
    this.#timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (id: unknown) => {
    this.#timers = this.#timers.filter((t) => t.id !== id);
  };

  /** Pending timer delays from now, soonest first. */
  pending(): number[] {
    return this.#timers.map((t) => t.at - this.t).sort((a, b) => a - b);
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const due = this.#timers[0];
      if (!due || due.at > until) break;
      this.#timers.shift();
      this.t = due.at;
      due.fn();
    }
    this.t = until;
  }
}
