#!/usr/bin/env bun
/**
 * `bun test/compat/make-fixtures.ts`: makes test/fixtures/release-0.1.0/ by running release
 * 0.1.0's own CLI (unpacked from git, old-release.ts). Run once; the files are committed, so
 * the compatibility tests read what that release wrote, not what today's code thinks it wrote.
 *
 * The story the files hold: a server with one key; client A wrote, patched, deleted and synced,
 * pulled client B's write, then went offline and queued `b1`. A copy of A's file was taken
 * there; A's original then came online and pushed `b1` (so the server has it), and the copy,
 * still offline, queued `c1` and a patch of `a2`. client.db is that copy: three queued writes,
 * the first of which the server has already applied (its answer "lost"), and a pull cursor.
 */
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oldRelease } from "./old-release.ts";

const OUT = join(import.meta.dir, "..", "fixtures", "release-0.1.0");
const old = await oldRelease("0.1.0");
const work = join(old.dir, "work");
mkdirSync(work);
const server = join(work, "server.db");
const a = join(work, "a.db");
const b = join(work, "b.db");
const copy = join(work, "a-copy.db");

async function must(args: string[]): Promise<string> {
  const r = await old.cli(args);
  if (r.code !== 0) throw new Error(`release 0.1.0: stowage ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Folds the WAL into the main file, so one file is the whole database. */
function checkpoint(path: string): void {
  const db = new Database(path);
  db.exec("pragma wal_checkpoint(truncate)");
  db.close();
  for (const ext of ["-wal", "-shm"]) if (existsSync(path + ext)) rmSync(path + ext);
}

try {
  const { key } = JSON.parse(await must(["keys", "create", "--tenant", "compat", "--data", server, "--json"]));
  let up = await old.serve(server);
  const A = (url: string) => ["--db", a, "--url", url, "--key", key];
  await must(["put", "todos", '{"id":"a1","title":"first","n":1}', ...A(up.url)]);
  await must(["put", "todos", '{"id":"a2","title":"second","n":2}', ...A(up.url)]);
  await must(["patch", "todos", "a1", '{"done":true}', ...A(up.url)]);
  await must(["put", "todos", '{"id":"a3","title":"gone"}', ...A(up.url)]);
  await must(["rm", "todos", "a3", ...A(up.url)]);
  await must(["put", "notes", '{"id":"o1","text":"from B"}', "--db", b, "--url", up.url, "--key", key]);
  await must(["sync", ...A(up.url)]);
  const downUrl = up.url;
  await up.stop();

  // Offline: b1 queues. The copy is taken with b1 still queued.
  await must(["put", "todos", '{"id":"b1","title":"queued then pushed by the original"}', ...A(downUrl)]);
  checkpoint(a);
  copyFileSync(a, copy);

  // The original comes back and pushes b1: the server now has the copy's first queued write.
  up = await old.serve(server);
  await must(["sync", ...A(up.url)]);
  await up.stop();
  checkpoint(server);

  // The copy, still offline, queues two more.
  await must(["put", "todos", '{"id":"c1","title":"queued"}', "--db", copy, "--url", downUrl, "--key", key]);
  await must(["patch", "todos", "a2", '{"n":20}', "--db", copy, "--url", downUrl, "--key", key]);
  checkpoint(copy);

  const db = new Database(copy, { readonly: true });
  const meta = Object.fromEntries(db.query<{ key: string; value: string }, []>("select key, value from _stowage_meta").all().map((r) => [r.key, r.value]));
  const outbox = db.query<{ op_id: number; collection: string; id: string; op: string }, []>("select op_id, collection, id, op from _stowage_outbox order by op_id").all();
  db.close();
  mkdirSync(OUT, { recursive: true });
  copyFileSync(server, join(OUT, "server.db"));
  copyFileSync(copy, join(OUT, "client.db"));
  const fixture = {
    release: old.version,
    commit: old.commit,
    made: "by test/compat/make-fixtures.ts running that commit's CLI",
    key,
    clientId: meta.client_id ?? null,
    cursor: meta.sync_cursor ?? null,
    meta,
    outbox,
  };
  writeFileSync(join(OUT, "fixture.json"), `${JSON.stringify(fixture, null, 2)}\n`);
  console.log(JSON.stringify(fixture, null, 2));
} finally {
  old.cleanup();
}
