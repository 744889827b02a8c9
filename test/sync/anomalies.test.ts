import { describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import type { Stowage } from "../../src/stowage.ts";
import { run } from "../../src/store/sql.ts";
import { Store } from "../../src/store/store.ts";
import { SyncLease, type ProcessIdentity } from "../../src/sync/lease.ts";
import { startFaultProxy } from "../helpers/fault-proxy.ts";
import type { TestServer } from "../helpers/server.ts";
import { testScope } from "../helpers/scope.ts";
import { openClient } from "./clients.ts";

// Issue 13's anomalies 2, 3 and 4, each reproduced deterministically.

const { dir, defer, file, server } = testScope("stowage-anomalies-");

async function client(url: string, key: string, extra: Parameters<typeof openClient>[3] = {}, path = file("a")): Promise<Stowage> {
  const db = await openClient(path, url, key, extra);
  defer(() => db.close());
  return db;
}

/** `{put q, patch x}` from B after A deleted x: the server refuses both (not_found, tx_aborted). */
async function refusedGroup(s: TestServer, viaB: string, extra: Parameters<typeof openClient>[3] = {}, path?: string) {
  const a = await client(s.url, s.key);
  await a.collection("t").put({ id: "x", v: 1 });
  await a.sync();
  const b = await client(viaB, s.key, extra, path);
  await b.sync();
  expect(await b.collection("t").get("x")).toEqual({ id: "x", v: 1 });
  await a.collection("t").delete("x");
  await a.sync();
  await b.transaction(async (tx) => {
    await tx.collection("t").put({ id: "q", v: 1 });
    await tx.collection("t").patch("x", { v: 2 });
  });
  return { a, b };
}

describe("anomaly 2: a refused write does not stay in the local store", () => {
  test("the fetch of the server's value fails: a later sync still takes it (q absent, like on the server)", async () => {
    const s = await server();
    const proxy = await startFaultProxy(s.url);
    defer(() => proxy.stop());
    // The network goes down the moment the refusal is settled: no request after it gets through.
    // (The push brought the cycle's pull with it, so the sync itself succeeds; the fetch fails.)
    const trace: string[] = [];
    const { b } = await refusedGroup(s, proxy.url, { onTrace: (line) => (trace.push(line), line.startsWith("push:") && (proxy.refuse = true)) });
    await b.sync();
    expect(trace.filter((l) => /^(push|pull|refresh)/.test(l))).toEqual(["pull:1", "push:2", "pull:1", "refresh:failed"]);
    expect((await b.issues()).map((i) => `${i.kind}:${i.id}`).sort()).toEqual(["rejected:q", "rejected:x"]);
    expect(await b.collection("t").get("q")).toEqual({ id: "q", v: 1 }); // the refused value, for now
    proxy.refuse = false;
    await b.sync();
    expect(await b.collection("t").get("q")).toBeUndefined();
    expect(await b.collection("t").get("x")).toBeUndefined();
    expect(await b.collection("t").count()).toBe(0);
    await b.sync(); // resolved: nothing is refetched
    expect(await b.collection("t").count()).toBe(0);
  });

  test("the process dies between the settle and the fetch: the restarted client converges", async () => {
    const s = await server();
    const proxy = await startFaultProxy(s.url);
    defer(() => proxy.stop());
    const path = file("a");
    const trace: string[] = [];
    const { b } = await refusedGroup(s, proxy.url, { onTrace: (line) => (trace.push(line), line.startsWith("push:") && (proxy.refuse = true)) }, path);
    await b.sync();
    expect(trace.filter((l) => /^(push|refresh)/.test(l))).toEqual(["push:2", "refresh:failed"]);
    // Nothing but the file survives a crash here: what a restart finds is the same.
    await b.close();
    proxy.refuse = false;
    const again = await client(proxy.url, s.key, {}, path);
    expect(await again.collection("t").get("q")).toEqual({ id: "q", v: 1 });
    const r = await again.sync();
    expect(r.leased).toBe(true);
    expect(await again.collection("t").get("q")).toBeUndefined();
    expect(await again.collection("t").count()).toBe(0);
  });
});

describe("a 404 says since when the document is absent (Stowage-Absent-Since)", () => {
  test("a tombstone's version; 0 for a document never written; absent on a live document", async () => {
    const s = await server();
    const get = (id: string) => fetch(`${s.url}/v1/docs/t/${id}`, { headers: { authorization: `Bearer ${s.key}` } });
    const a = await client(s.url, s.key);
    await a.collection("t").putMany([{ id: "x" }, { id: "y" }]);
    await a.sync();
    await a.collection("t").delete("x"); // seq 3
    await a.sync();
    const gone = await get("x");
    expect([gone.status, gone.headers.get("stowage-absent-since")]).toEqual([404, "3"]);
    expect((await gone.json()).error.code).toBe("not_found");
    const never = await get("never");
    expect([never.status, never.headers.get("stowage-absent-since")]).toEqual([404, "0"]);
    await never.text();
    const live = await get("y");
    expect([live.status, live.headers.get("stowage-absent-since")]).toEqual([200, null]);
    await live.text();
  });
});

describe("anomaly 3: a conflict answer does not write one member of another client's group", () => {
  test("the server value belongs to a group not pulled yet: it waits for the pull, which brings the whole group", async () => {
    const s = await server();
    const a = await client(s.url, s.key);
    const b = await client(s.url, s.key);
    const sa = a.collection("s", { strict: true });
    const sb = b.collection("s", { strict: true });
    await sa.put({ id: "x", v: 0 });
    await a.sync();
    await b.sync();
    await a.transaction(async (tx) => {
      await tx.collection("s").put({ id: "x", v: 1, by: "a" });
      await tx.collection("s").put({ id: "y", v: 1, by: "a" });
    });
    await a.sync();
    await sb.put({ id: "x", v: 2, by: "b" }); // stale: based on version 1
    const pushed = await b.push(); // push only: the group is not pulled yet
    expect(pushed.issues.map((i) => `${i.kind}:${i.id}:${i.serverVersion}`)).toEqual(["conflict:x:2"]);
    const x = await sb.get("x");
    const y = await sb.get("y");
    // Never x from a's group without y.
    expect(x?.by === "a" && !y).toBe(false);
    expect(x).toEqual({ id: "x", v: 2, by: "b" }); // its own refused value until the pull
    await b.sync();
    expect(await sb.get("x")).toEqual({ id: "x", v: 1, by: "a" });
    expect(await sb.get("y")).toEqual({ id: "y", v: 1, by: "a" });
  });

  test("a server value at or below the cursor is a state already held whole: applied at once", async () => {
    const s = await server();
    const a = await client(s.url, s.key);
    const b = await client(s.url, s.key);
    await a.collection("s", { strict: true }).put({ id: "x", v: 1, by: "a" });
    await a.sync();
    await b.sync();
    const sb = b.collection("s", { strict: true });
    // b writes x as if it had not seen version 1: base "no document".
    await run(b.store!.db, "update _stowage_docs set version = null where collection = 's' and id = 'x'");
    await sb.put({ id: "x", v: 2, by: "b" });
    const pushed = await b.push();
    expect(pushed.issues.map((i) => `${i.kind}:${i.serverVersion}`)).toEqual(["conflict:1"]);
    expect(await sb.get("x")).toEqual({ id: "x", v: 1, by: "a" });
  });
});

describe("a conflict answer replayed from the server's record", () => {
  test("is older than a change the client pulled meanwhile: the current value is fetched, not the replayed one written", async () => {
    const s = await server();
    let dropPush = false;
    // Loses the answer of a push the server committed (once).
    const lossy: typeof fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await fetch(input, init);
      if (dropPush && String(input).endsWith("/v1/push")) {
        dropPush = false;
        throw new TypeError("fetch failed: socket closed");
      }
      return res;
    }) as typeof fetch;
    const a = await client(s.url, s.key, { fetch: lossy });
    const b = await client(s.url, s.key);
    const sa = a.collection("s", { strict: true });
    const sb = b.collection("s", { strict: true });
    await sa.put({ id: "n", by: "a" });
    await a.sync();
    await b.sync();
    await sb.put({ id: "n", by: "b", v: 1 }); // version 2
    await b.sync();
    await sa.put({ id: "n", by: "a", stale: true }); // based on version 1: refused, answer lost
    dropPush = true;
    await expect(a.push()).rejects.toMatchObject({ code: "transport" });
    await sb.put({ id: "n", by: "b", v: 2 }); // version 3
    await b.sync();
    // A pull while the refused put is still pending: version 3 is held behind it.
    const { applyPage } = await import("../../src/sync/v1/pull.ts");
    const { HttpClient } = await import("../../src/sync/v1/http.ts");
    const http = new HttpClient({ url: s.url, apiKey: s.key });
    await applyPage(a.store!, await http.pull((await a.store!.getMeta("sync_cursor")) ?? null, 100));
    // The resend is answered from the record: conflict, with version 2's value.
    const pushed = await a.push();
    expect(pushed.issues.map((i) => `${i.kind}:${i.serverVersion}`)).toEqual(["conflict:2"]);
    await a.sync();
    expect(await sa.get("n")).toEqual({ id: "n", by: "b", v: 2 });
  });
});

describe("anomaly 4: a restarted client syncs at once", () => {
  test("a client SIGKILLed mid-sync and restarted on the same file gets the lease on its first sync (default 20 s TTL)", async () => {
    const s = await server();
    const path = dir.file("lease.db");
    const fixture = join(import.meta.dir, "../fixtures/lease-client.ts");
    const proc = Bun.spawn([process.execPath, fixture, path, s.url, s.key], { stdout: "pipe", stderr: "inherit" });
    defer(() => proc.kill("SIGKILL"));
    await untilLine(proc, (line) => line === "trace push:200"); // mid-cycle: the lease is held
    proc.kill("SIGKILL");
    await proc.exited;
    const lease = await leaseRow(path); // the dead process's lease, 20 s from expiring
    const restarted = await client(s.url, s.key, {}, path);
    const r = await restarted.sync();
    expect(r.leased).toBe(true);
    expect(lease.split(" ")[2]).toBe(String(proc.pid));
    expect((await restarted.status()).outbox.size).toBe(0);
  });

  test("takeover rules: a live holder keeps the lease; a dead pid, an earlier process with our pid, or none on another host", async () => {
    const store = await Store.open({ adapter: createBunSqliteAdapter({ path: dir.file("rules.db") }) });
    defer(() => store.close());
    const alive = new Set([100, 200]);
    const me = (pid: number, incarnation: string, host = "h1"): ProcessIdentity => ({ pid, host, incarnation, isAlive: (p) => alive.has(p) });
    const t = 1_000_000;
    const holder = new SyncLease(store, "owner-a", 20_000, me(100, "i100"));
    expect(await holder.acquire(t)).toBe(true);
    // Another process on the same host while the holder lives: busy.
    expect(await new SyncLease(store, "owner-b", 20_000, me(200, "i200")).acquire(t + 1)).toBe(false);
    // Another engine in the holder's own process: busy.
    expect(await new SyncLease(store, "owner-c", 20_000, me(100, "i100")).acquire(t + 2)).toBe(false);
    // Another host cannot judge a pid: busy until the TTL.
    expect(await new SyncLease(store, "owner-d", 20_000, me(300, "i300", "h2")).acquire(t + 3)).toBe(false);
    // No identity (a runtime that cannot say): busy until the TTL.
    expect(await new SyncLease(store, "owner-e", 20_000).acquire(t + 4)).toBe(false);
    // The holder dies: taken over at once.
    alive.delete(100);
    const next = new SyncLease(store, "owner-f", 20_000, me(200, "i200"));
    expect(await next.acquire(t + 5)).toBe(true);
    // A new process that got the dead holder's pid (pid reuse): the row's process is gone.
    const reused = new SyncLease(store, "owner-g", 20_000, me(200, "i-new"));
    expect(await reused.acquire(t + 6)).toBe(true);
  });
});

async function untilLine(proc: Subprocess<"ignore", "pipe", "inherit">, match: (line: string) => boolean): Promise<void> {
  const reader = proc.stdout.getReader();
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("child exited early");
      text += new TextDecoder().decode(value);
      let nl;
      while ((nl = text.indexOf("\n")) >= 0) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        if (match(line)) return;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

async function leaseRow(path: string): Promise<string> {
  const { Database } = await import("bun:sqlite");
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("select value from _stowage_meta where key = 'sync_lease'").get() as { value: string }).value;
  } finally {
    db.close();
  }
}
