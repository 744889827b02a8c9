import { StowageError } from "../errors.ts";
import { assertCollectionName, assertFieldPath } from "../names.ts";
import { first, run, type Executor } from "../store/sql.ts";
import { fieldTextSql } from "./text.ts";

/**
 * One FTS5 table per searchable collection, kept in step by triggers on `_stowage_docs`,
 * so local writes, changes the sync engine pulls and resets all reach the index with no
 * coordination, in the same transaction as the write. `_stowage_docs` has no rowid, so a
 * small map table gives each document the integer key FTS5 needs. The FTS table keeps its
 * own copy of the text (not external content): a row can then be removed by rowid alone,
 * which stays correct whatever statement changed the document (REPLACE deletes fire no
 * delete trigger). Bump INDEX_VERSION when this layout or the tokenizer changes.
 */
const INDEX_VERSION = 1;
const TOKENIZE = "porter unicode61 remove_diacritics 2";

/** Table and trigger names; `$` cannot occur in a collection name, so none collide. */
export function ftsNames(collection: string): { fts: string; ids: string; triggers: string[] } {
  const base = `_stowage_fts_${assertCollectionName(collection)}$`;
  return { fts: base, ids: `${base}ids`, triggers: [`${base}ai`, `${base}au`, `${base}ad`] };
}

/** What `_stowage_meta` records for a built index, to notice a changed field list. */
function signature(fields: string[]): string {
  return JSON.stringify({ v: INDEX_VERSION, tokenize: TOKENIZE, fields });
}

const metaKey = (collection: string) => `search:${collection}`;

/** Validates a collection's `search` option. */
export function assertSearchFields(collection: string, fields: unknown): string[] {
  if (!Array.isArray(fields) || fields.length === 0) {
    throw new StowageError("input", `collection ${collection} declares no search fields: pass { search: ["title", ...] } when declaring it`);
  }
  if (fields.length > 32) throw new StowageError("input", `collection ${collection} declares ${fields.length} search fields; the most is 32`);
  for (const f of fields) assertFieldPath(f);
  if (new Set(fields).size !== fields.length) {
    throw new StowageError("input", `collection ${collection} lists a search field twice: ${JSON.stringify(fields)}`);
  }
  return fields as string[];
}

/** The DDL that creates the index, its map table and triggers (without filling them). */
export function createIndexSql(collection: string, fields: string[]): string[] {
  const { fts, ids, triggers } = ftsNames(collection);
  const cols = fields.map((_, i) => `c${i}`);
  const reindex = (row: "new") => [
    `delete from "${fts}" where rowid = (select rid from "${ids}" where id = ${row}.id);`,
    // Not `insert or ignore`: an outer statement's conflict clause overrides a trigger's.
    `insert into "${ids}" (id) select ${row}.id where not exists (select 1 from "${ids}" where id = ${row}.id);`,
    `insert into "${fts}" (rowid, ${cols.join(", ")}) values ((select rid from "${ids}" where id = ${row}.id), ` +
      `${fields.map((f) => fieldTextSql(`${row}.body`, f)).join(", ")});`,
  ].join("\n  ");
  const when = (row: "new" | "old") => `${row}.collection = '${collection}'`;
  return [
    `create table "${ids}" (rid integer primary key, id text not null unique)`,
    `create virtual table "${fts}" using fts5(${cols.join(", ")}, tokenize = '${TOKENIZE}')`,
    `create trigger "${triggers[0]}" after insert on _stowage_docs when ${when("new")} begin\n  ${reindex("new")}\nend`,
    `create trigger "${triggers[1]}" after update of body on _stowage_docs when ${when("new")} and new.body is not old.body begin\n  ${reindex("new")}\nend`,
    `create trigger "${triggers[2]}" after delete on _stowage_docs when ${when("old")} begin\n` +
      `  delete from "${fts}" where rowid = (select rid from "${ids}" where id = old.id);\n` +
      `  delete from "${ids}" where id = old.id;\nend`,
  ];
}

export function dropIndexSql(collection: string): string[] {
  const { fts, ids, triggers } = ftsNames(collection);
  return [...triggers.map((t) => `drop trigger if exists "${t}"`), `drop table if exists "${fts}"`, `drop table if exists "${ids}"`];
}

/** Access to the database: reads directly, writes inside one transaction. */
export interface IndexAccess {
  /** Runs a read on the database. */
  read<R>(fn: (db: Executor) => Promise<R>): Promise<R>;
  /** Runs `fn` in a write transaction. */
  write<R>(fn: (db: Executor) => Promise<R>): Promise<R>;
}

/**
 * Makes sure the collection's index exists for exactly `fields`, building it from the rows
 * already stored when it is new or the field list changed. Cheap when nothing changed
 * (one meta read), so every search calls it.
 */
export async function ensureSearchIndex(access: IndexAccess, collection: string, fields: string[]): Promise<void> {
  const want = signature(fields);
  const key = metaKey(collection);
  const have = await access.read((db) => first<{ value: string }>(db, "select value from _stowage_meta where key = ?", [key]));
  if (have?.value === want) return;
  await access.write(async (db) => {
    const again = await first<{ value: string }>(db, "select value from _stowage_meta where key = ?", [key]);
    if (again?.value === want) return; // another process built it meanwhile
    for (const ddl of dropIndexSql(collection)) await run(db, ddl);
    for (const ddl of createIndexSql(collection, fields)) await run(db, ddl);
    const { fts, ids } = ftsNames(collection);
    await run(db, `insert into "${ids}" (id) select id from _stowage_docs where collection = ?`, [collection]);
    await run(
      db,
      `insert into "${fts}" (rowid, ${fields.map((_, i) => `c${i}`).join(", ")}) ` +
        `select i.rid, ${fields.map((f) => fieldTextSql("d.body", f)).join(", ")} ` +
        `from "${ids}" i join _stowage_docs d on d.collection = ? and d.id = i.id`,
      [collection],
    );
    await run(db, "insert into _stowage_meta (key, value) values (?, ?) on conflict (key) do update set value = excluded.value", [key, want]);
  });
}

/** Removes a collection's index and triggers (writes stop paying for it). */
export async function dropSearchIndex(access: IndexAccess, collection: string): Promise<void> {
  await access.write(async (db) => {
    for (const ddl of dropIndexSql(collection)) await run(db, ddl);
    await run(db, "delete from _stowage_meta where key = ?", [metaKey(collection)]);
  });
}

/** The fields a collection's index was last built for (by any process), if it has one. */
export async function indexedFields(read: IndexAccess["read"], collection: string): Promise<string[] | undefined> {
  const row = await read((db) => first<{ value: string }>(db, "select value from _stowage_meta where key = ?", [metaKey(collection)]));
  if (!row) return undefined;
  try {
    const fields = (JSON.parse(row.value) as { fields?: unknown }).fields;
    return Array.isArray(fields) && fields.every((f) => typeof f === "string") ? fields : undefined;
  } catch {
    return undefined;
  }
}
