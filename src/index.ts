export type { AdapterCapabilities, SqliteFileOptions, StowageAdapter } from "./adapter.ts";
export { StowageError, isStowageError, type StowageErrorCode, type StowageErrorIssue } from "./errors.ts";
export { uuidv7 } from "./ids.ts";
export { mergePatch, type JsonObject, type JsonValue } from "./json.ts";
export { SyncSqliteDialect } from "./sqlite/sqlite-dialect.ts";
export type { SyncSqliteDatabase, SyncSqliteStatement } from "./sqlite/sync-database.ts";
export { Collection } from "./store/collection.ts";
export { Store, TransactionScope, type OpenStoreOptions } from "./store/store.ts";
export type * from "./store/types.ts";
