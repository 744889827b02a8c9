#!/usr/bin/env bun
/**
 * `bun test/compat/make-fixtures.ts`: makes test/fixtures/release-0.1.0/ by running release
 * 0.1.0's own CLI (unpacked from git, old-release.ts). Run once; the files are committed, so
 * the compatibility tests read what that release wrote, not what today's code thinks it wrote.
 * Needs PostgreSQL at STOWAGE_TEST_PG_URL (as the tests do) and pg_dump for the second store.
 *
 * The story the files hold, once per server store (a SQLite file; a PostgreSQL schema, dumped):
 * a server with one key; client A wrote, patched, deleted and synced, pulled client B's write,
 * then went offline and queued `b1`. A copy of A's file was taken there; A's original then came
 * online and pushed `b1` (so the server has it), and the copy, still offline, queued `c1` and a
 * patch of `a2`. The client file is that copy: three queued writes, the first of which the
 * server has already applied (its answer "lost"), and a pull cursor.
 */
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PG_URL, pgQuery } from "../helpers/pg.ts";
import { oldRelease, type OldRelease } from "./old-release.ts";

const OUT = join(import.meta.dir, "..", "fixtures", "release-0.1.0");
/** The schema the PostgreSQL story runs in; the dump names it SCHEMA_PLACEHOLDER instead. */
const PG_SCHEMA = "stowage_fixture_010";
export const SCHEMA_PLACEHOLDER = "__stowage_schema__";

/** Folds the WAL into the main file, so one file is the whole database. */
function checkpoint(path: string): void {
  const db = new Database(path);
  db.exec("pragma wal_checkpoint(truncate)");
  db.close();
  for (const ext of ["-wal", "-shm"]) if (existsSync(path + ext)) rmSync(path + ext);
}

/** Plays the story against `data` (a SQLite path or a postgres:// URL); answers the key and the client copy. */
async function story(old: OldRelease, work: string, data: string): Promise<{ key: string; client: string }> {
  const must = async (args: string[]) => {
    const r = await old.cli(args);
    if (r.code !== 0) throw new Error(`release 0.1.0: stowage ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const a = join(work, "a.db");
  const b = join(work, "b.db");
  const copy = join(work, "a-copy.db");
  const { key } = JSON.parse(await must(["keys", "create", "--tenant", "compat", "--data", data, "--json"]));
  let up = await old.serve(data);
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
  up = await old.serve(data);
  await must(["sync", ...A(up.url)]);
  await up.stop();

  // The copy, still offline, queues two more.
  await must(["put", "todos", '{"id":"c1","title":"queued"}', "--db", copy, "--url", downUrl, "--key", key]);
  await must(["patch", "todos", "a2", '{"n":20}', "--db", copy, "--url", downUrl, "--key", key]);
  checkpoint(copy);
  return { key, client: copy };
}

function describeClient(path: string, key: string) {
  const db = new Database(path, { readonly: true });
  const meta = Object.fromEntries(db.query<{ key: string; value: string }, []>("select key, value from _stowage_meta").all().map((r) => [r.key, r.value]));
  const outbox = db.query<{ op_id: number; collection: string; id: string; op: string }, []>("select op_id, collection, id, op from _stowage_outbox order by op_id").all();
  db.close();
  return { key, clientId: meta.client_id ?? null, cursor: meta.sync_cursor ?? null, meta, outbox };
}

if (import.meta.main) {
  const old = await oldRelease("0.1.0");
  try {
    mkdirSync(OUT, { recursive: true });
    const sqliteWork = join(old.dir, "sqlite");
    mkdirSync(sqliteWork);
    const server = join(sqliteWork, "server.db");
    const onSqlite = await story(old, sqliteWork, server);
    checkpoint(server);
    copyFileSync(server, join(OUT, "server.db"));
    copyFileSync(onSqlite.client, join(OUT, "client.db"));

    const pgWork = join(old.dir, "postgres");
    mkdirSync(pgWork);
    await pgQuery(`drop schema if exists ${PG_SCHEMA} cascade`);
    const pgData = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${PG_SCHEMA}`;
    const onPg = await story(old, pgWork, pgData);
    const dump = Bun.spawnSync(["pg_dump", "--schema", PG_SCHEMA, "--inserts", "--no-owner", "--no-privileges", PG_URL], { stdout: "pipe", stderr: "pipe" });
    if (dump.exitCode !== 0) throw new Error(`pg_dump failed: ${dump.stderr}`);
    // Plain SQL any client can run: no psql meta-commands, the schema's name a placeholder.
    const sql = dump.stdout
      .toString()
      .split("\n")
      .filter((l) => !l.startsWith("\\"))
      .join("\n")
      .replaceAll(PG_SCHEMA, SCHEMA_PLACEHOLDER);
    writeFileSync(join(OUT, "server-postgres.sql"), sql);
    copyFileSync(onPg.client, join(OUT, "client-postgres.db"));
    await pgQuery(`drop schema if exists ${PG_SCHEMA} cascade`);

    const fixture = {
      release: old.version,
      commit: old.commit,
      made: "by test/compat/make-fixtures.ts running that commit's CLI",
      sqlite: describeClient(onSqlite.client, onSqlite.key),
      postgres: describeClient(onPg.client, onPg.key),
    };
    writeFileSync(join(OUT, "fixture.json"), `${JSON.stringify(fixture, null, 2)}\n`);
    console.log(JSON.stringify(fixture, null, 2));
  } finally {
    old.cleanup();
  }
}
