import { Kysely, sql } from "kysely";
import { StowageError, describeValue } from "../../errors.ts";
import { UsageError, expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { printJson } from "../output.ts";
import { DATA_FLAG, serverDataLocation, serverStoreKind } from "../server-store.ts";

const USAGE = "backup --out FILE [--data PATH]";

const backupCommand: Command = {
  usage: USAGE,
  summary: "copy the SQLite server database consistently, even while `serve` runs",
  help: [
    "Writes a consistent copy of the server's SQLite database to --out with VACUUM INTO: one read",
    "transaction, so the copy is the database as of one commit, while `serve` keeps serving",
    "(WAL mode: readers never block writers). The copy is compact and self-contained (no -wal",
    "file). Restore: stop `serve`, copy the file over the --data path (and delete any old",
    "server.db-wal and server.db-shm beside it), start `serve`.",
    "PostgreSQL: use pg_dump (README: Operating the server).",
    "",
    "  stowage backup --out /backups/stowage-$(date +%F).db",
  ].join("\n"),
  flags: [DATA_FLAG, { name: "out", type: "string", short: "o", value: "FILE", help: "where to write the copy (must not exist)" }],
  async run(ctx, args) {
    expectPositionals(args, 0, 0, USAGE);
    const out = args.flags.out as string | undefined;
    if (!out) throw new UsageError(`backup needs --out FILE: usage: ${USAGE}`);
    const data = serverDataLocation(ctx, args.flags);
    const refusal = serverStoreKind(data).backupRefusal;
    if (refusal) throw new StowageError("input", refusal);
    if (ctx.io.fileSize(data) === undefined) throw new StowageError("input", `no server database at ${describeValue(data)}`);
    if (ctx.io.fileSize(out) !== undefined) throw new StowageError("input", `${describeValue(out)} already exists; backup never overwrites, choose a new file`);
    const adapter = await ctx.io.sqliteAdapter(data);
    const db = new Kysely<any>({ dialect: adapter.dialect });
    const started = Date.now();
    try {
      await sql`vacuum into ${out}`.execute(db);
    } catch (e) {
      throw new StowageError("storage", `backup to ${describeValue(out)} failed: ${String((e as Error).message ?? e)}`, { cause: e });
    } finally {
      await db.destroy();
    }
    const bytes = ctx.io.fileSize(out) ?? 0;
    if (ctx.global.json) printJson(ctx, { out, bytes, ms: Date.now() - started });
    else ctx.io.out(`backed up ${data} to ${out} (${bytes} bytes)\n`);
    return EXIT.ok;
  },
};
export default backupCommand;
