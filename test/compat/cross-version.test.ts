import { Database } from "bun:sqlite";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cli, ndjson, startServe } from "../cli/run.ts";
import { tempDir } from "../helpers/tmp.ts";
import { oldRelease, type OldRelease } from "./old-release.ts";

/**
 * The previous release (0.2.0, unpacked from git and run from its source) against today's
 * build, both ways round: its client with today's server, today's client with its server;
 * and the first release's client with today's server (a server takes every older client).
 * Each side writes (put, patch, delete), some of it while the server is down, and both must
 * end with the same documents, every write applied on the server exactly once.
 */
let previous: OldRelease;
let first: OldRelease;
const tmp = tempDir("stowage-cross-");
beforeAll(async () => {
  [previous, first] = await Promise.all([oldRelease("0.2.0"), oldRelease("0.1.0")]);
}, 60_000);
afterAll(() => {
  previous?.cleanup();
  first?.cleanup();
  tmp.cleanup();
});

type Run = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;
const today: Run = (args) => cli(args);

async function ok(run: Run, args: string[]): Promise<string> {
  const r = await run(args);
  if (r.code !== 0) throw new Error(`stowage ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

function serverCounts(path: string): { seq: number; docs: number } {
  const db = new Database(path, { readonly: true });
  try {
    const seq = (db.query("select seq from stowage_tenants").get() as { seq: number }).seq;
    const docs = (db.query("select count(*) as n from stowage_docs").get() as { n: number }).n;
    return { seq, docs };
  } finally {
    db.close();
  }
}

/** Two clients of different releases write through one server (started by `start`) and converge. */
async function scenario(name: string, serverRun: Run, start: (data: string) => Promise<{ url: string; stop(): Promise<void> }>, a: Run, b: Run) {
  const data = tmp.file(`${name}-server.db`);
  const { key } = JSON.parse(await ok(serverRun, ["keys", "create", "--tenant", name, "--data", data, "--json"]));
  let server = await start(data);
  const A = () => ["--db", tmp.file(`${name}-a.db`), "--url", server.url, "--key", key];
  const B = () => ["--db", tmp.file(`${name}-b.db`), "--url", server.url, "--key", key];
  try {
    await ok(a, ["put", "todos", '{"id":"a1","by":"a","n":1}', ...A()]);
    await ok(a, ["patch", "todos", "a1", '{"n":2}', ...A()]);
    await ok(a, ["put", "todos", '{"id":"a2","by":"a"}', ...A()]);
    await ok(a, ["rm", "todos", "a2", ...A()]);
    await ok(b, ["put", "todos", '{"id":"b1","by":"b"}', ...B()]);
    await ok(b, ["sync", ...B()]);
    await ok(b, ["patch", "todos", "a1", '{"seenBy":"b"}', ...B()]);
    // Down: both queue a write; up again: both drain.
    const url = server.url;
    await server.stop();
    await ok(a, ["put", "todos", '{"id":"a3","by":"a","offline":true}', "--db", tmp.file(`${name}-a.db`), "--url", url, "--key", key]);
    await ok(b, ["put", "todos", '{"id":"b2","by":"b","offline":true}', "--db", tmp.file(`${name}-b.db`), "--url", url, "--key", key]);
    server = await start(data);
    for (let round = 0; round < 2; round++) {
      expect(JSON.parse(await ok(a, ["sync", "--json", ...A()]))).toMatchObject({ outbox: 0 });
      expect(JSON.parse(await ok(b, ["sync", "--json", ...B()]))).toMatchObject({ outbox: 0 });
    }
    const listA = ndjson(await ok(a, ["list", "todos", "--json", ...A()]));
    const listB = ndjson(await ok(b, ["list", "todos", "--json", ...B()]));
    expect(listA).toEqual([
      { id: "a1", by: "a", n: 2, seenBy: "b" },
      { id: "a3", by: "a", offline: true },
      { id: "b1", by: "b" },
      { id: "b2", by: "b", offline: true },
    ]);
    expect(listB).toEqual(listA);
  } finally {
    await server.stop();
  }
  // Exactly once: eight writes, eight changes (a1 twice by a, once by b; a2 put and delete; a3, b1, b2).
  expect(serverCounts(data)).toEqual({ seq: 8, docs: 5 });
}

test("a client of the previous release (0.2.0) and one of today's sync through today's server", async () => {
  const old: Run = (args) => previous.cli(args);
  await scenario("new-server", today, (data) => startServe(data), old, today);
}, 120_000);

test("today's client and a client of the previous release (0.2.0) sync through the previous release's server", async () => {
  const old: Run = (args) => previous.cli(args);
  await scenario("old-server", old, (data) => previous.serve(data), today, old);
}, 120_000);

test("today's server also takes a client of the first release (0.1.0): servers accept every older client", async () => {
  const oldest: Run = (args) => first.cli(args);
  await scenario("first-client", today, (data) => startServe(data), oldest, today);
}, 120_000);

test("the first release's client (0.1.0) syncs through the previous release's server (0.2.0)", async () => {
  const oldest: Run = (args) => first.cli(args);
  const old: Run = (args) => previous.cli(args);
  await scenario("first-to-previous", old, (data) => previous.serve(data), oldest, old);
}, 120_000);

test("a client newer than 0.1.0 against a 0.1.0 server fails loudly, says to upgrade the server, and keeps its writes queued", async () => {
  const data = tmp.file("too-old-server.db");
  const { key } = JSON.parse(await ok((args) => first.cli(args), ["keys", "create", "--tenant", "old", "--data", data, "--json"]));
  const server = await first.serve(data);
  try {
    const at = ["--db", tmp.file("too-old-client.db"), "--url", server.url, "--key", key];
    const put = await today(["put", "todos", '{"id":"t1"}', ...at]);
    expect(put.code).toBe(1); // protocol (README exit codes): not a refusal of the write
    expect(put.stderr).toContain('Unrecognized key: "settled"');
    expect(put.stderr).toContain("the server is older than this client");
    expect(put.stderr).toContain("upgrade the server");
    const synced = await today(["sync", ...at]);
    expect(synced.code).toBe(1);
    expect(synced.stderr).toContain("upgrade the server");
    // Nothing recorded as rejected, nothing dropped: the write waits for a newer server.
    const status = JSON.parse(await ok(today, ["status", "--json", ...at]));
    expect(status.rejections).toBe(0);
    expect(status.outbox.size).toBe(1);
    expect(ndjson(await ok(today, ["list", "todos", "--json", ...at]))).toEqual([{ id: "t1" }]);
  } finally {
    await server.stop();
  }
  expect(serverCounts(data)).toEqual({ seq: 0, docs: 0 });
}, 120_000);

test("an older release refuses a local file today's build migrated, and leaves it as it was (no downgrade)", async () => {
  const file = tmp.file("downgrade.db");
  expect(await today(["put", "todos", '{"id":"d1"}', "--db", file])).toMatchObject({ code: 0 });
  const before = await Bun.file(file).bytes();
  const old = await first.cli(["get", "todos", "d1", "--db", file]);
  expect(old.code).toBe(1);
  expect(old.stderr).toContain("local schema migration failed: corrupted migrations: previously executed migration 0002_pull_stage_and_refresh is missing");
  expect(await Bun.file(file).bytes()).toEqual(before);
  expect(await today(["get", "todos", "d1", "--db", file, "--json"])).toMatchObject({ code: 0, stdout: '{"id":"d1"}\n' });
}, 60_000);
