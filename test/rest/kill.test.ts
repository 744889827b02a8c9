import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "../helpers/tmp.ts";
import { openRest, serverLive, syncUntilClean } from "./helpers.ts";
import { startReferenceServer } from "./reference-server.ts";

const CHILD = join(import.meta.dir, "kill-child.ts");
const tmp = tempDir("stowage-rest-kill-");
afterAll(() => tmp.cleanup());

/** SIGKILL a writer while it pushes; a restart on the same file finishes with nothing lost or doubled. */
for (const idempotency of [true, false]) {
  test(`SIGKILL mid-sync, then restart (API ${idempotency ? "honours" : "ignores"} Idempotency-Key): 0 lost, 0 duplicated`, async () => {
    const server = startReferenceServer({ idempotency });
    const db = tmp.file(`kill-${idempotency}.db`);
    const count = 120;
    try {
      const child = Bun.spawn([process.execPath, CHILD, db, server.url, server.key, String(count)], { stdout: "pipe", stderr: "inherit" });
      // Kill once 20 of the creates have reached the API: mid-push, between requests or inside one.
      for (let i = 0; i < 400 && server.stats.creates < 20; i++) await Bun.sleep(10);
      child.kill("SIGKILL");
      await child.exited;
      const before = server.stats.creates;
      expect(before).toBeGreaterThan(0);
      expect(before).toBeLessThan(count);

      await Bun.sleep(400); // the dead writer's sync lease (300 ms in the child) expires
      const s = await openRest(db, server.url, server.key, {}, { leaseTtlMs: 300 });
      try {
        await syncUntilClean(s);
        await s.sync(); // repairs found by that pull are flushed
        const live = serverLive(server);
        const ids = Array.from({ length: count }, (_, i) => `k${String(i).padStart(4, "0")}`);
        expect([...live.keys()].sort()).toEqual(ids);
        expect([...live.values()].filter((v) => v.count > 1)).toEqual([]);
        for (const id of ids) expect(live.get(id)!.body.n).toBe(Number(id.slice(1)));
        console.log(`SIGKILL (idempotency ${idempotency}): killed after ${before} creates; replays ${server.stats.replays}; repaired ${(await s.issues()).filter((i) => i.kind === "repaired").length}`);
      } finally {
        await s.close();
      }
    } finally {
      await server.stop();
    }
  }, 30_000);
}
