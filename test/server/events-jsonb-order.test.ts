import { afterAll, describe, expect, test } from "bun:test";
import type { JsonObject } from "../../src/json.ts";
import { jsonbKeyOrder } from "../../src/server/dialect-sql.ts";
import { pgAvailable, pgQuery, pgTestAdapter } from "../helpers/pg.ts";
import { startServer } from "../helpers/server.ts";
import { openEvents, seqOf, type SseItem } from "../helpers/sse.ts";
import { api } from "./client.ts";

/**
 * On PostgreSQL a pull gives bodies back in jsonb's key order, while a live event's changes
 * come from the pushed text (events/changes.ts). Clients store what they parsed, so the two
 * must agree key for key, or a client fed by events differs from one fed by pulls (chaos
 * found it: same version, same value, other bytes).
 */
const pg = await pgAvailable("jsonb key order of live events");
const BODIES: ({ id: string } & JsonObject)[] = [
  { zeta: 1, id: "d1", a: { yy: 1, b: [{ ccc: 1, dd: 2 }], aa: null } },
  { "10": 1, "2": 2, b: 3, é: 4, e: 5, "éé": 6, ab: 7, id: "d2" },
  { "z\u00fcrich": true, zurich: false, "\u{1f600}": 1, id: "d3" },
];

describe.skipIf(!pg)("jsonb key order", () => {
  const { adapter, drop } = pgTestAdapter();
  afterAll(() => drop());

  test("jsonbKeyOrder(text) equals PostgreSQL's own jsonb text, once parsed", async () => {
    for (const body of BODIES) {
      const [row] = await pgQuery<{ t: string }>("select ($1::jsonb)::text as t", [JSON.stringify(body)]);
      expect(jsonbKeyOrder(JSON.stringify(body))).toBe(JSON.stringify(JSON.parse(row.t)));
    }
  });

  test("a live event's changes read exactly as the pull of the same rows", async () => {
    const s = await startServer({ adapter });
    try {
      const events = await openEvents(s.url, s.key, {}, "?changes=1");
      expect(seqOf(await events.waitFor((i) => i.kind === "event"))).toBe(0);
      await api(s.url, s.key).push({
        clientId: "jsonb-writer",
        ops: BODIES.map((value, i) => ({ opId: i + 1, collection: "todos", id: value.id, op: "put" as const, value })),
      });
      const ev = (await events.waitFor((i) => i.kind === "event" && seqOf(i) === 3)) as Extract<SseItem, { kind: "event" }>;
      const pull = await api(s.url, s.key).call("GET", "/v1/pull?cursor=v1.0");
      // Byte for byte after a parse, as a client stores them.
      expect(JSON.stringify(JSON.parse(ev.data).changes)).toBe(JSON.stringify(pull.json.changes));
      events.close();
    } finally {
      await s.stop();
    }
  });
});
