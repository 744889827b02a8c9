/** The embedding hooks on the PostgreSQL store: migration 0002, tenants created on first sight under a race, rules in the transaction. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { createKey, listKeys, listTenants } from "../../src/server/index.ts";
import { pgAvailable, pgTestAdapter } from "../helpers/pg.ts";
import { api } from "./client.ts";
import { call, startEmbedded, type EmbeddedServer } from "./embed-helpers.ts";

const SECRET = "postgres-suite-secret-long-enough-for-hs256";
const token = (sub: string, scope?: string) =>
  new SignJWT(scope ? { sub, scope } : { sub }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("10m").sign(new TextEncoder().encode(SECRET));

if (await pgAvailable("embedding hooks on PostgreSQL")) {
  describe("embedding hooks [postgres]", () => {
    let s: EmbeddedServer;
    let drop: () => Promise<void>;
    beforeAll(async () => {
      const pg = pgTestAdapter();
      drop = pg.drop;
      s = await startEmbedded(
        {
          jwt: { secret: SECRET },
          authorize: (op) => (op.collection === "secrets" ? "no secrets here" : true),
          resolve: ({ collection, current, incoming, op }) => (collection === "counters" ? { n: Number(current?.n ?? 0) + Number(op.value?.inc ?? 0) } : incoming),
        },
        pg.adapter,
      );
    });
    afterAll(async () => {
      await s.stop();
      await drop();
    });

    test("16 concurrent first requests of a new sub make exactly one tenant", async () => {
      const t = await token("racer");
      const answers = await Promise.all(Array.from({ length: 16 }, () => call(s.url, t, "GET", "/v1/pull")));
      expect(answers.map((a) => a.status)).toEqual(Array(16).fill(200));
      expect((await listTenants(s.store)).filter((x) => x.name === "racer").length).toBe(1);
    });

    test("concurrent counter increments add up; refused ops are rejected and replayed from the record", async () => {
      const t = await token("counter-co");
      expect((await call(s.url, t, "PUT", "/v1/docs/counters/c", { n: 0 })).status).toBe(200);
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          api(s.url, t).push({
            clientId: `client-${i}-xxxxxx`,
            ops: [
              { opId: 1, collection: "counters", id: "c", op: "patch", value: { inc: 1 } },
              { opId: 2, collection: "secrets", id: "s", op: "put", value: {} },
            ],
          }),
        ),
      );
      expect(results.map((r) => [r.results[0].status, r.results[1].error?.code])).toEqual(Array(8).fill(["applied", "forbidden"]));
      // Each increment was resolved against the value the previous commit left: 8, not 1.
      expect((await call(s.url, t, "GET", "/v1/docs/counters/c")).json.value).toEqual({ id: "c", n: 8 });
      const again = await api(s.url, t).push({ clientId: "client-0-xxxxxx", ops: [{ opId: 2, collection: "secrets", id: "s", op: "put", value: {} }] });
      expect(again.results[0]).toEqual(results[0].results[1]);
    });

    test("read-only keys and scopes (migration 0002 on PostgreSQL)", async () => {
      const { key } = await createKey(s.store, "counter-co", { scope: "read" });
      expect((await listKeys(s.store, "counter-co")).map((k) => k.scope)).toEqual(["read"]);
      expect((await call(s.url, key, "GET", "/v1/docs/counters/c")).status).toBe(200);
      expect((await call(s.url, key, "PUT", "/v1/docs/counters/c", { n: 99 })).status).toBe(403);
      expect((await call(s.url, await token("counter-co", "read"), "DELETE", "/v1/docs/counters/c")).status).toBe(403);
    });
  });
} else {
  test.skip("embedding hooks on PostgreSQL (PostgreSQL unreachable)", () => {});
}
