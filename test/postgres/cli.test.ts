import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { PG_URL, dropSchema, newSchemaName, pgAvailable } from "../helpers/pg.ts";
import { call } from "./spawn.ts";

/** `stowage keys create` and `stowage serve` against a postgres:// URL, as real processes. */
const run = await pgAvailable("stowage serve on PostgreSQL");
const BIN = join(import.meta.dir, "../../src/cli/bin.ts");

describe.skipIf(!run)("stowage serve --data postgres://…", () => {
  const schema = newSchemaName();
  const data = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}`;
  const procs: ReturnType<typeof Bun.spawn>[] = [];

  afterAll(async () => {
    for (const p of procs) {
      p.kill("SIGKILL");
      await p.exited;
    }
    await dropSchema(schema);
  });

  test("two `stowage serve` processes on one URL share keys and data", async () => {
    const keys = Bun.spawnSync([process.execPath, BIN, "keys", "create", "--tenant", "acme", "--data", data], { stdout: "pipe", stderr: "pipe" });
    expect(keys.exitCode).toBe(0);
    const key = keys.stdout.toString().trim().split("\n")[0];
    expect(key).toMatch(/^stw_[0-9a-f]{16}_/);

    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const p = Bun.spawn([process.execPath, BIN, "--json", "serve", "--port", "0", "--data", data], { stdout: "pipe", stderr: "pipe" });
      procs.push(p);
      const reader = p.stdout.getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`serve exited: ${await new Response(p.stderr).text()}`);
        text += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      const line = JSON.parse(text.slice(0, text.indexOf("\n"))) as { url: string };
      urls.push(line.url);
    }
    const health = await (await fetch(`${urls[0]}/v1/health`)).json();
    expect(health).toEqual({ ok: true, protocol: 1, store: "postgres" });
    const pushed = await call(urls[0], key, "/v1/push", { clientId: "cli-client-1", ops: [{ opId: 1, collection: "notes", id: "n1", op: "put", value: { text: "hi" } }] });
    expect(pushed.json).toEqual({ results: [{ opId: 1, status: "applied", version: 1 }], lastOpId: 1 });
    const pulled = await call(urls[1], key, "/v1/pull");
    expect(pulled.json).toEqual({ changes: [{ collection: "notes", id: "n1", version: 1, value: { id: "n1", text: "hi" }, deleted: false }], cursor: "v1.1", more: false });
  });
});

test("serve's PostgreSQL flags refuse bad values before anything starts", async () => {
  const { cli } = await import("../cli/run.ts");
  const dir = (await import("../helpers/tmp.ts")).tempDir("stowage-pgflags-");
  try {
    const data = `${dir.path}/server.db`;
    const poll = await cli(["serve", "--port", "0", "--data", data, "--poll-ms", "5"]);
    expect(poll.code).toBe(2); // a bad flag value is a usage error (README exit codes)
    expect(poll.stderr).toContain("--poll-ms must be a whole number of ms, 10-60000, got 5");
    const listen = await cli(["serve", "--port", "0", "--data", data, "--listen-url", "mysql://db/x"]);
    expect(listen.code).toBe(poll.code);
    expect(listen.stderr).toContain("--listen-url must be a postgres:// URL");
    const read = await cli(["serve", "--port", "0", "--data", data, "--read-url", "postgres://db/x"]);
    expect(read.code).toBe(poll.code);
    expect(read.stderr).toContain("--read-url needs --data postgres://");
    // Checked before any side effect: no server file was created.
    expect(await Bun.file(data).exists()).toBe(false);
  } finally {
    dir.cleanup();
  }
});
