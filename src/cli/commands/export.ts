import { assertCollectionName } from "../../names.ts";
import { all, first } from "../../store/sql.ts";
import { EXIT, type Command } from "../context.ts";
import { withStore } from "../local.ts";
import { progress } from "../progress.ts";

const USAGE = "export [<collection>...] [--out FILE]";
const PAGE = 1000;

const exportCommand: Command = {
  usage: USAGE,
  summary: "write every document as NDJSON (streaming: any size in bounded memory)",
  help: [
    "One line per document: {\"collection\":\"todos\",\"doc\":{...}}, ordered by collection and id.",
    "Documents are written exactly as stored, so `import` reproduces them byte for byte.",
    "",
    "  stowage export > backup.ndjson",
    "  stowage export todos --out todos.ndjson",
  ].join("\n"),
  flags: [{ name: "out", type: "string", short: "o", value: "FILE", help: "write to FILE instead of stdout" }],
  async run(ctx, args) {
    const collections = args.positionals.map(assertCollectionName);
    const out = await ctx.io.openWriter((args.flags.out as string | undefined) ?? "-");
    let written = 0;
    try {
      await withStore(ctx, async (store) => {
        const filter = collections.length ? ` and collection in (${collections.map(() => "?").join(",")})` : "";
        const total = Number((await first<{ n: number }>(store.db, `select count(*) as n from _stowage_docs where 1=1${filter}`, collections))?.n ?? 0);
        const bar = progress(ctx, "export", "docs");
        // Keyset pages over the primary key: each page is one short read, memory stays at one page.
        let after: [string, string] = ["", ""];
        for (;;) {
          const rows = await all<{ collection: string; id: string; body: string }>(
            store.db,
            `select collection, id, body from _stowage_docs where (collection > ? or (collection = ? and id > ?))${filter} order by collection, id limit ${PAGE}`,
            [after[0], after[0], after[1], ...collections],
          );
          if (rows.length === 0) break;
          let chunk = "";
          for (const r of rows) chunk += `{"collection":${JSON.stringify(r.collection)},"doc":${r.body}}\n`;
          await out.write(chunk);
          written += rows.length;
          bar.update(written, total);
          const last = rows[rows.length - 1];
          after = [last.collection, last.id];
        }
        bar.finish();
      });
    } finally {
      await out.close();
    }
    if (args.flags.out !== undefined) ctx.io.err(`exported ${written} documents to ${args.flags.out}\n`);
    return EXIT.ok;
  },
};
export default exportCommand;
