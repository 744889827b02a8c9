import { afterAll, describe, expect, test } from "bun:test";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../helpers/pg.ts";
import { openEvents } from "../helpers/sse.ts";
import { call } from "./spawn.ts";
import { createKeyCli, extraUrl, p50, startServe, type ServeProcess } from "./extras.ts";

/**
 * `stowage serve` on its defaults behind PgBouncer 1.18 in transaction mode (scripts/ci-pg-extras.sh),
 * `?schema=` included, as the issue found it failing: the options startup parameter refused,
 * `prepared statement "stowage_3" already exists` as a 500, live changes not crossing instances.
 */
const run = (await pgAvailable("PostgreSQL behind PgBouncer")) && extraUrl("STOWAGE_TEST_PGBOUNCER_URL", "PostgreSQL behind PgBouncer");
const BOUNCER = process.env.STOWAGE_TEST_PGBOUNCER_URL ?? "";

describe.skipIf(!run)("stowage serve behind PgBouncer in transaction mode", () => {
  const schema = newSchemaName();
  const data = `${BOUNCER}?schema=${schema}`;
  const procs: ServeProcess[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await dropSchema(schema);
  });

  const serve = async (args: string[] = []) => {
    const p = await startServe(["--data", data, ...args]);
    procs.push(p);
    return p;
  };

  /** Writes on `a`, watches on `b`: ms from each write's answer to `b`'s event for it. */
  const crossing = async (a: string, b: string, key: string, writes: number, tag: string) => {
    const events = await openEvents(b, key);
    expect(events.status).toBe(200);
    const ms: number[] = [];
    for (let i = 1; i <= writes; i++) {
      const start = performance.now();
      const put = await fetch(`${a}/v1/docs/live/${tag}${i}`, { method: "PUT", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ i }) });
      expect(put.status).toBe(200);
      const { version } = (await put.json()) as { version: number };
      await events.waitFor((it) => it.kind === "event" && it.event !== "hello" && Number(JSON.parse(it.data).seq) >= version, 5000);
      ms.push(performance.now() - start);
    }
    events.close();
    return ms;
  };

  test("defaults with ?schema=: a probe of every route answers no 5xx, live changes cross instances by polling, the log says so once", async () => {
    const key = createKeyCli(data, "pooled");
    const [a, b] = [await serve(), await serve()];
    const statuses: number[] = [];
    for (let i = 1; i <= 40; i++) {
      const base = i % 2 ? a.url : b.url;
      const pushed = await call(base, key, "/v1/push", { clientId: "probe-client-1", ops: [{ opId: i, collection: "notes", id: `n${i}`, op: "put", value: { i } }] });
      statuses.push(pushed.status);
      expect(pushed.json.results[0].status).toBe("applied");
      const pulled = await call(i % 2 ? b.url : a.url, key, `/v1/pull?cursor=v1.${i - 1}`);
      statuses.push(pulled.status);
      expect(pulled.json.changes.map((c: { id: string }) => c.id)).toEqual([`n${i}`]);
      for (const path of [`/v1/docs/notes/n${i}`, "/v1/docs/notes?limit=5", "/v1/health"]) statuses.push((await fetch(base + path, { headers: { authorization: `Bearer ${key}` } })).status);
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(new Set(statuses)).toEqual(new Set([200]));

    const polled = await crossing(a.url, b.url, key, 20, "p");
    console.log(`PgBouncer, polling (250 ms): write on one instance -> event on the other, p50 ${p50(polled).toFixed(0)} ms, max ${Math.max(...polled).toFixed(0)} ms`);
    expect(Math.max(...polled)).toBeLessThan(3000);
    for (const p of [a, b]) {
      expect(p.stderr()).toContain("other instances' changes: polling the tenants' counters every 250 ms");
      expect(p.stderr()).not.toMatch(/error/i);
      expect(p.stderr().split("do not keep a session").length - 1).toBe(1);
    }
  }, 120_000);

  test("with --listen-url a direct URL: LISTEN carries them, the log and /metrics say which", async () => {
    const key = createKeyCli(data, "listened");
    const [a, b] = [await serve(["--listen-url", PG_URL, "--metrics"]), await serve(["--listen-url", PG_URL, "--metrics"])];
    const listened = await crossing(a.url, b.url, key, 20, "l");
    console.log(`PgBouncer + --listen-url: write on one instance -> event on the other, p50 ${p50(listened).toFixed(0)} ms, max ${Math.max(...listened).toFixed(0)} ms`);
    expect(Math.max(...listened)).toBeLessThan(3000);
    expect(b.stderr()).toContain("other instances' changes: LISTEN on postgres://");
    expect(await (await fetch(`${b.url}/metrics`)).text()).toContain("stowage_change_feed_polling 0");
    const polling = await serve(["--metrics"]);
    expect(await (await fetch(`${polling.url}/metrics`)).text()).toContain("stowage_change_feed_polling 1");
    for (const p of [a, b]) expect(p.stderr()).not.toMatch(/error/i);
  }, 120_000);

  test("migrations through the pooler leave no advisory lock held by an idle server connection", async () => {
    // Kysely's session-level migration lock, released by a statement that ran on another
    // server connection, stayed held and made every later migration in the database wait (adapters/postgres/dialect.ts).
    const schema2 = newSchemaName();
    try {
      createKeyCli(`${BOUNCER}?schema=${schema2}`, "locks");
      const leaked = async () =>
        (await pgQuery<{ n: number }>("select count(*)::int as n from pg_locks l join pg_stat_activity a using (pid) where l.locktype = 'advisory' and l.granted and a.state = 'idle' and a.application_name like 'stowage%'"))[0].n;
      const deadline = Date.now() + 10_000;
      while ((await leaked()) > 0 && Date.now() < deadline) await Bun.sleep(200);
      expect(await leaked()).toBe(0);
    } finally {
      await dropSchema(schema2);
    }
  }, 60_000);

  test("?pooler=transaction starts without prepared statements or LISTEN, and logs no detection", async () => {
    const key = createKeyCli(data, "declared");
    const p = await serve();
    void p;
    const declared = await startServe(["--data", `${BOUNCER}?schema=${schema}&pooler=transaction`]);
    procs.push(declared);
    for (let i = 1; i <= 10; i++) {
      const pushed = await call(declared.url, key, "/v1/push", { clientId: "declared-client", ops: [{ opId: i, collection: "notes", id: `d${i}`, op: "put", value: { i } }] });
      expect(pushed.status).toBe(200);
    }
    expect(declared.stderr()).toContain("polling the tenants' counters every 250 ms (the URL declares a pooler");
    expect(declared.stderr()).not.toContain("do not keep a session");
  }, 60_000);
});
