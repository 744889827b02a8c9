import { afterAll, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { Store } from "../../src/store/store.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();
afterAll(() => dir.cleanup());
const writer = new URL("../fixtures/local-writer.ts", import.meta.url).pathname;

/** Reads `ack <id>` lines from a child until it dies; kills it after `killAfterMs`. */
async function runAndKill(dbPath: string, prefix: string, killAfterMs: number): Promise<string[]> {
  const proc = Bun.spawn([process.execPath, writer, dbPath, prefix], { stdout: "pipe", stderr: "inherit" });
  const acked: string[] = [];
  let started = false;
  const reader = (async () => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of proc.stdout) {
      buffered += decoder.decode(chunk);
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) if (line.startsWith("ack ")) acked.push(line.slice(4));
      started = true;
    }
  })();
  // The kill lands `killAfterMs` after the writer has done real work (a loaded machine can
  // take longer than the shortest delay to get going).
  while ((!started || acked.length < 12) && proc.exitCode === null) await Bun.sleep(2);
  await Bun.sleep(killAfterMs);
  proc.kill("SIGKILL");
  await proc.exited;
  await reader;
  return acked;
}

for (const [round, killAfterMs] of [30, 120, 10 + Math.floor(Math.random() * 400)].entries()) {
  test(`SIGKILL at ${killAfterMs} ms loses no acknowledged write and leaves no orphan outbox entry (round ${round})`, async () => {
    const dbPath = dir.file(`crash-${round}.db`);
    const acked = await runAndKill(dbPath, `r${round}`, killAfterMs);
    expect(acked.length).toBeGreaterThan(10);

    const store = await Store.open({ adapter: createBunSqliteAdapter({ path: dbPath }) });
    try {
      const docs = (await store.db.selectFrom("_stowage_docs").select(["id", "body"]).where("collection", "=", "crash").execute()) as { id: string; body: string }[];
      const outbox = (await store.db.selectFrom("_stowage_outbox").select(["id", "op", "tx", "op_id"]).execute()) as any[];
      const docIds = new Set(docs.map((d) => d.id));
      const putIds = new Set(outbox.filter((o) => o.op === "put").map((o) => o.id));

      // Every acknowledged write is there, with its outbox entry.
      for (const id of acked) {
        expect(docIds.has(id)).toBe(true);
        expect(putIds.has(id)).toBe(true);
      }
      // Outbox and documents agree exactly: no entry without its change, no change without its entry.
      expect([...putIds].sort()).toEqual([...docIds].sort());
      // At most the one write in flight at the kill committed without being acknowledged (a pair counts once).
      const unacked = [...docIds].filter((id) => !acked.includes(id));
      expect(unacked.length).toBeLessThanOrEqual(2);
      // Patches are never separated from their document, and transaction groups are whole.
      for (const o of outbox.filter((o) => o.op === "patch")) expect(docIds.has(o.id)).toBe(true);
      for (const d of docs) {
        const body = JSON.parse(d.body);
        if (body.i % 4 === 3 && acked.includes(d.id)) expect(body.patched).toBe(true);
      }
      const groups = Map.groupBy(outbox.filter((o) => o.tx !== null), (o) => o.tx);
      for (const members of groups.values()) expect(members).toHaveLength(2);
    } finally {
      await store.close();
    }
  });
}
