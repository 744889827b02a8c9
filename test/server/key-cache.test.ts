import { describe, expect, test } from "bun:test";
import { KeyRowCache, ROW_TTL_MS, type KeyInvalidations, type KeyRow } from "../../src/server/auth/key-cache.ts";

/**
 * The key row cache's own rules (src/server/auth/key-cache.ts), driven by hand; the PostgreSQL
 * suite (test/postgres/key-cache.test.ts) runs it behind real server processes and LISTEN.
 */
function source(): KeyInvalidations & { send(id: string | undefined): void; live: boolean } {
  const fns = new Set<(id: string | undefined) => void>();
  return {
    live: true,
    onChange(fn) {
      fns.add(fn);
      return () => void fns.delete(fn);
    },
    send(id) {
      for (const fn of fns) fn(id);
    },
  };
}

const row = (id: string): KeyRow => ({ id, tenant_id: "t_1", hash: "00", revoked_at: null, scope: "write", name: "acme" });

describe("key row cache", () => {
  test("a row read before a change arrived is not kept after it (the read may predate the revocation)", () => {
    const src = source();
    const cache = new KeyRowCache(src);
    const token = cache.token(); // the request starts reading k_1's row …
    src.send("k_1"); // … k_1 is revoked and the notification arrives before the read ends
    cache.put("k_1", row("k_1"), token, 0);
    expect(cache.get("k_1", 0)).toBeUndefined();
    // A read that started after the change is kept.
    cache.put("k_1", row("k_1"), cache.token(), 0);
    expect(cache.get("k_1", 0)?.id).toBe("k_1");
  });

  test("a change evicts its key only; 'changes may have been missed' drops every row", () => {
    const src = source();
    const cache = new KeyRowCache(src);
    for (const id of ["k_1", "k_2", "k_3"]) cache.put(id, row(id), cache.token(), 0);
    src.send("k_2");
    expect([cache.get("k_1", 0)?.id, cache.get("k_2", 0)?.id, cache.get("k_3", 0)?.id]).toEqual(["k_1", undefined, "k_3"]);
    src.send(undefined);
    expect([cache.get("k_1", 0), cache.get("k_3", 0)]).toEqual([undefined, undefined]);
  });

  test("nothing is served or kept while the source is not live", () => {
    const src = source();
    const cache = new KeyRowCache(src);
    cache.put("k_1", row("k_1"), cache.token(), 0);
    src.live = false;
    expect(cache.get("k_1", 0)).toBeUndefined();
    cache.put("k_2", row("k_2"), cache.token(), 0);
    src.live = true;
    expect(cache.get("k_2", 0)).toBeUndefined();
    expect(cache.get("k_1", 0)?.id).toBe("k_1");
  });

  test(`a row is read again after ${ROW_TTL_MS} ms whatever the source says (a connection that died silently)`, () => {
    const cache = new KeyRowCache(source());
    cache.put("k_1", row("k_1"), cache.token(), 1_000);
    expect(cache.get("k_1", 1_000 + ROW_TTL_MS - 1)?.id).toBe("k_1");
    expect(cache.get("k_1", 1_000 + ROW_TTL_MS)).toBeUndefined();
  });

  test("close() stops listening and forgets every row", () => {
    const src = source();
    const cache = new KeyRowCache(src);
    cache.put("k_1", row("k_1"), cache.token(), 0);
    cache.close();
    expect(cache.get("k_1", 0)).toBeUndefined();
    const token = cache.token();
    src.send("k_9"); // no longer heard: the generation does not move
    expect(cache.token()).toBe(token);
  });
});
