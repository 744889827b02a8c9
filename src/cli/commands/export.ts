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
        const filter = collections.length ? ` where collection in (${collections.map(() => "?").join(",")})` : "";
        const total = Number((await first<{ n: number }>(store.db, `select count(*) as n from _stowage_docs${filter}`, collections))?.n ?? 0);
        const bar = progress(ctx, "export", "docs");
        // Collection by collection, then keyset pages over the primary key (collection, id):
        // every page is an index range read, and memory stays at one page.
        let collection = collections.length ? undefined : "";
        const wanted = [...new Set(collections)].sort();
        for (;;) {
          const next = collections.length
            ? wanted.shift()
            : (await first<{ c: string | null }>(store.db, "select min(collection) as c from _stowage_docs where collection > ?", [collection]))?.c ?? undefined;
          if (next === undefined || next === null) break;
          collection = next;
          let after = "";
          for (;;) {
            const rows = await all<{ id: string; body: string }>(
              store.db,
              `select id, body from _stowage_docs where collection = ? and id > ? order by id limit ${PAGE}`,
              [collection, after],
            );
            if (rows.length === 0) break;
            const prefix = `{"collection":${JSON.stringify(collection)},"doc":`;
            let chunk = "";
            for (const r of rows) chunk += `${prefix}${r.body}}\n`;
            await out.write(chunk);
            written += rows.length;
            bar.update(written, total);
            after = rows[rows.length - 1].id;
            if (rows.length < PAGE) break;
          }
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
