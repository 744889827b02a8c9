import { expect, test } from "bun:test";
import { join } from "node:path";

/**
 * Outside src/server/sql/ (the server dialects) and adapters/, no code asks which database it
 * is on (issue 33): a new server store is adapters/<x>/ + src/server/sql/<x>.ts + its entries
 * in the CLI's and chaos' store tables (cli/server-store.ts SERVER_STORES, chaos/stores.ts),
 * which hold names as data and never compare them. This is the command that counts the files
 * that do (ARCHITECTURE.md quotes it): a comparison with a database's name, a `family` or
 * `pipelinedPush` flag, or a PostgreSQL URL pattern of its own.
 */
export const DB_KIND_GREP = String.raw`grep -rlE '(===|!==|==|!=)[[:space:]]*"(sqlite|postgres|postgresql|libsql|pg)"|"(sqlite|postgres|postgresql|libsql|pg)"[[:space:]]*(===|!==|==|!=)|case[[:space:]]+"(sqlite|postgres|postgresql|libsql)"|family[[:space:]]*(===|!==)|pipelinedPush|isPostgres\b|isSqlite\b|postgres\(ql\)\?' src chaos --include='*.ts' | grep -vE '^src/server/sql/'`;

test("no file outside src/server/sql and adapters branches on the database kind", () => {
  const run = Bun.spawnSync(["bash", "-c", DB_KIND_GREP], { cwd: join(import.meta.dir, "..", "..") });
  // grep exits 1 when it finds nothing: only 2 and above are errors.
  expect(run.exitCode === null || run.exitCode >= 2 ? run.stderr.toString() : "").toBe("");
  const files = run.stdout.toString().split("\n").filter(Boolean);
  if (files.length) console.log(`files that ask which database they are on (move the difference into src/server/sql/ or adapters/):\n${files.join("\n")}`);
  expect(files).toEqual([]);
});
