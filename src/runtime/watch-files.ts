/**
 * File-change notifications for a SQLite database, so a server notices commits made by other
 * processes on the same file without polling fast (src/server/events/sqlite-source.ts).
 */
import { watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";

/**
 * A watcher for the database at `path`: calls `onChange` when the database file or its WAL
 * (or rollback journal) changes, and answers the stop. It watches the directory rather than
 * the files, so a WAL that is deleted and recreated stays watched. Where the runtime cannot
 * watch, it does nothing (the caller's safety poll covers it).
 */
export function watchSqliteFiles(path: string): (onChange: () => void) => () => void {
  const full = resolve(path);
  const base = basename(full);
  const names = new Set([base, `${base}-wal`, `${base}-journal`]);
  return (onChange) => {
    try {
      const watcher = watch(dirname(full), { persistent: false }, (_event, name) => {
        // Some platforms do not name the file; then any change in the directory counts.
        if (name === null || name === undefined || names.has(String(name))) onChange();
      });
      watcher.on("error", () => watcher.close());
      return () => watcher.close();
    } catch {
      return () => {};
    }
  };
}
