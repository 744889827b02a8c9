import { afterAll, describe, expect, test } from "bun:test";
import pg from "pg";
import { newSchemaName } from "../helpers/pg.ts";
import { createKeyCli, extraUrl, startServe, type ServeProcess } from "./extras.ts";

/**
 * A full restart of PostgreSQL (`pg_ctl restart -m fast` of the private cluster
 * scripts/ci-pg-extras.sh made for this) while 4 clients push through `stowage serve`:
 * the server stays up, answers 503 with Retry-After meanwhile (never 500), recovers by
 * itself, and every write it acknowledged is there afterwards.
 */
const suite = "PostgreSQL restart under load";
const URL_ = extraUrl("STOWAGE_TEST_PG_RESTART_URL", suite);
const CMD = URL_ ? extraUrl("STOWAGE_TEST_PG_RESTART_CMD", suite) : undefined;

describe.skipIf(!URL_ || !CMD)(suite, () => {
  const schema = newSchemaName();
  const data = `${URL_}?schema=${schema}`;
  let server: ServeProcess | undefined;
  afterAll(async () => {
    await server?.kill();
    const c = new pg.Client({ connectionString: URL_ });
    await c.connect();
    await c.query(`drop schema if exists ${schema} cascade`);
    await c.end();
  });

  test("4 pushing clients across a restart: 503s only, recovery by itself, nothing acknowledged lost", async () => {
    const key = createKeyCli(data, "restart");
    server = await startServe(["--data", data]);
    const base = server.url;
    const acked = new Map<string, number>(); // doc id -> version acknowledged
    const statuses = new Map<number, number>();
    let restarting = false;
    let firstFailure: number | undefined;
    let recoveredAt: number | undefined;
    let stop = false;

    const client = async (c: number) => {
      let opId = 0;
      while (!stop) {
        opId++;
        const id = `c${c}-${opId}`;
        // A client retries the same op until it is acknowledged (applied or duplicate), as the sync engine does.
        while (!stop) {
          let status = 0;
          let body: any;
          try {
            const res = await fetch(`${base}/v1/push`, {
              method: "POST",
              headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
              body: JSON.stringify({ clientId: `restart-client-${c}`, ops: [{ opId, collection: "notes", id, op: "put", value: { c, opId } }] }),
              signal: AbortSignal.timeout(20_000),
            });
            status = res.status;
            body = await res.json();
          } catch {
            status = -1;
          }
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status === 200) {
            const r = body.results[0];
            expect(["applied", "duplicate"]).toContain(r.status);
            if (r.status === "applied") acked.set(id, r.version);
            else acked.set(id, acked.get(id) ?? -1);
            if (firstFailure !== undefined && recoveredAt === undefined && !restarting) recoveredAt = performance.now();
            break;
          }
          if (firstFailure === undefined) firstFailure = performance.now();
          await Bun.sleep(50);
        }
      }
    };

    const clients = [0, 1, 2, 3].map(client);
    await Bun.sleep(1500);
    const before = acked.size;
    restarting = true;
    const restartStart = performance.now();
    // Not spawnSync: the clients go on pushing while the restart runs.
    const r = Bun.spawn(["sh", "-c", CMD!], { stdout: "ignore", stderr: "pipe" });
    expect(await r.exited).toBe(0);
    const restartEnd = performance.now();
    restarting = false;
    // Pushing goes on until the server answered again for a while.
    const deadline = Date.now() + 30_000;
    while ((recoveredAt === undefined || performance.now() - recoveredAt < 1500) && Date.now() < deadline) await Bun.sleep(100);
    console.log(`restart: first failure ${firstFailure === undefined ? "none" : `${(firstFailure - restartStart).toFixed(0)} ms after the restart began`}`);
    stop = true;
    await Promise.all(clients);

    expect(server.proc.exitCode).toBeNull();
    expect(recoveredAt).toBeDefined();
    expect(statuses.get(500) ?? 0).toBe(0);
    expect([...statuses.keys()].filter((s) => s !== 200 && s !== 503)).toEqual([]);
    console.log(
      `restart under 4 pushing clients: pg_ctl restart took ${(restartEnd - restartStart).toFixed(0)} ms; pushes answered again ${(recoveredAt! - restartEnd).toFixed(0)} ms after it returned ` +
        `(${(recoveredAt! - (firstFailure ?? restartStart)).toFixed(0)} ms after the first failure); answers ${JSON.stringify(Object.fromEntries(statuses))}; ${acked.size} writes acknowledged (${before} before the restart)`,
    );

    // Every acknowledged write is there, at the version the server answered.
    const c = new pg.Client({ connectionString: URL_ });
    await c.connect();
    const { rows } = await c.query(`select id, seq::int as seq from ${schema}.stowage_docs`);
    await c.end();
    const stored = new Map(rows.map((row: { id: string; seq: number }) => [row.id, row.seq]));
    const lost = [...acked].filter(([id, v]) => !stored.has(id) || (v > 0 && stored.get(id) !== v));
    expect(lost).toEqual([]);
    expect(acked.size).toBeGreaterThan(before);
  }, 120_000);
});
