import { afterAll, expect, test } from "bun:test";
import { DEFAULT_LIMITS } from "../../src/server/handler.ts";
import { createKey, openServerStore } from "../../src/server/index.ts";
import { ClientActivity, listClients } from "../../src/server/ops/clients.ts";
import { push } from "../../src/server/push.ts";
import { pgAvailable, pgTestAdapter } from "../helpers/pg.ts";
import { cli, ndjson } from "../cli/run.ts";
import { tempDir } from "../helpers/tmp.ts";
import { openClient } from "../sync/clients.ts";
import { startOpsServer } from "./ops-helpers.ts";

const dir = tempDir("stowage-ops-clients-");
afterAll(() => dir.cleanup());

test("stowage clients: three clients synced at different times show their own lag", async () => {
  let clock = Date.UTC(2026, 5, 1, 12, 0, 0);
  const s = await startOpsServer({ ops: { now: () => clock } });
  try {
    const a = await openClient(dir.file("a.db"), s.url, s.key);
    const b = await openClient(dir.file("b.db"), s.url, s.key);
    const c = await openClient(dir.file("c.db"), s.url, s.key);
    const t0 = clock;
    await a.collection("n").putMany([{ id: "a1" }, { id: "a2" }, { id: "a3" }]);
    await a.sync(); // seq 1-3, A pulls to 3
    clock += 60_000;
    await b.collection("n").putMany([{ id: "b1" }, { id: "b2" }]);
    await b.sync(); // seq 4-5, B pulls to 5
    clock += 60_000;
    await c.collection("n").putMany([{ id: "c1" }, { id: "c2" }]);
    await c.sync(); // seq 6-7, C pulls to 7
    // A pull without a clientId (a script, curl) is served but not recorded.
    expect((await fetch(`${s.url}/v1/pull`, { headers: { authorization: `Bearer ${s.key}` } })).status).toBe(200);
    await s.activity.flush();
    const ids = [a, b, c].map((x) => x.store!.clientId);
    const byId = new Map((await listClients(s.store)).map((x) => [x.clientId, x]));
    expect(byId.size).toBe(3);
    expect(ids.map((id) => byId.get(id))).toEqual([
      { tenant: "ops", clientId: ids[0], lastOpId: 3, lastPushAt: t0, lastPullAt: t0, pulledSeq: 3, tenantSeq: 7, behind: 4 },
      { tenant: "ops", clientId: ids[1], lastOpId: 2, lastPushAt: t0 + 60_000, lastPullAt: t0 + 60_000, pulledSeq: 5, tenantSeq: 7, behind: 2 },
      { tenant: "ops", clientId: ids[2], lastOpId: 2, lastPushAt: t0 + 120_000, lastPullAt: t0 + 120_000, pulledSeq: 7, tenantSeq: 7, behind: 0 },
    ]);
    // A later pull catches A up; its push mark and push time stay.
    clock += 60_000;
    await a.sync();
    await s.activity.flush();
    expect((await listClients(s.store, "ops")).find((x) => x.clientId === ids[0])).toMatchObject({ lastOpId: 3, lastPushAt: t0, lastPullAt: t0 + 180_000, behind: 0 });
    // The CLI reads the same table from the database file.
    const json = await cli(["clients", "--tenant", "ops", "--json", "--data", s.dbPath]);
    expect(json.code).toBe(0);
    expect(ndjson(json.stdout).map((x) => [x.clientId, x.behind]).sort()).toEqual([[ids[0], 0], [ids[1], 2], [ids[2], 0]].sort() as any);
    const table = await cli(["clients", "--data", s.dbPath]);
    expect(table.stdout.split("\n")[0].split(/\s{2,}/)).toEqual(["TENANT", "CLIENT", "LAST OP", "LAST PUSH", "LAST PULL", "CURSOR", "BEHIND"]);
    expect(table.stdout).toContain("2026-06-01T12:01:00Z");
    const missing = await cli(["clients", "--tenant", "nobody", "--data", s.dbPath]);
    expect(missing).toMatchObject({ code: 3, stderr: 'stowage: no tenant named "nobody"\n' });
    for (const x of [a, b, c]) await x.close();
  } finally {
    await s.stop();
  }
}, 30_000);

const runPg = await pgAvailable("ops-clients (PostgreSQL)");

test.skipIf(!runPg)("client activity on PostgreSQL: batched upserts keep the push mark and move only the activity columns", async () => {
  const { adapter, drop } = pgTestAdapter();
  const store = await openServerStore({ adapter });
  try {
    const { tenant } = await createKey(store, "pg-clients", { createIfMissing: true });
    await push(store, tenant.id, { clientId: "pg-client-1", ops: [1, 2, 3].map((opId) => ({ opId, collection: "c", id: `d${opId}`, op: "put" as const, value: {} })) }, DEFAULT_LIMITS, 1000);
    const activity = new ClientActivity(store);
    activity.pushed(tenant.id, "pg-client-1", 5000);
    activity.pulled(tenant.id, "pg-client-1", 6000, 2);
    activity.pulled(tenant.id, "pg-client-2", 7000, 3);
    await activity.flush();
    activity.pulled(tenant.id, "pg-client-1", 8000, 3);
    await activity.stop();
    expect(await listClients(store, "pg-clients")).toEqual([
      { tenant: "pg-clients", clientId: "pg-client-1", lastOpId: 3, lastPushAt: 5000, lastPullAt: 8000, pulledSeq: 3, tenantSeq: 3, behind: 0 },
      { tenant: "pg-clients", clientId: "pg-client-2", lastOpId: 0, lastPushAt: null, lastPullAt: 7000, pulledSeq: 3, tenantSeq: 3, behind: 0 },
    ]);
  } finally {
    await store.close();
    await drop();
  }
});
