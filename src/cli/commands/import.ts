import { StowageError, describeValue } from "../../errors.ts";
import { isPlainObject } from "../../json.ts";
import { assertCollectionName, assertDocId } from "../../names.ts";
import type { Store } from "../../store/store.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type CliContext, type Command } from "../context.ts";
import { withStore } from "../local.ts";
import { printJson } from "../output.ts";
import { progress } from "../progress.ts";

const USAGE = "import <file.ndjson | -> [--collection NAME]";
const BATCH = 1000;

const importCommand: Command = {
  usage: USAGE,
  summary: "read NDJSON documents into the database (streaming)",
  help: [
    "Reads what `export` writes ({\"collection\":...,\"doc\":{...}} per line), or plain documents",
    "one per line with --collection. Writes in transactions of 1,000 documents; each write syncs",
    "like any other. A file is checked completely before anything is written, so a bad line",
    "changes nothing; from stdin (-) lines before a bad one are kept and the count is printed.",
    "",
    "  stowage import backup.ndjson --db fresh.db",
    "  jq -c '.[]' todos.json | stowage import - --collection todos",
  ].join("\n"),
  flags: [{ name: "collection", type: "string", short: "c", value: "NAME", help: "every line is a bare document of NAME" }],
  async run(ctx, args) {
    const [source] = expectPositionals(args, 1, 1, USAGE);
    const into = args.flags.collection === undefined ? undefined : assertCollectionName(args.flags.collection);
    if (source !== "-") {
      await readRecords(ctx, source, into, () => {}); // validate first: a bad line changes nothing
    }
    let imported = 0;
    await withStore(ctx, async (store) => {
      const bar = progress(ctx, "import", "docs");
      let batch: { collection: string; doc: Record<string, unknown> }[] = [];
      const flush = async () => {
        await writeBatch(store, batch);
        imported += batch.length;
        bar.update(imported);
        batch = [];
      };
      try {
        await readRecords(ctx, source, into, async (rec) => {
          batch.push(rec);
          if (batch.length >= BATCH) await flush();
        });
        if (batch.length) await flush();
      } catch (e) {
        if (imported > 0 && e instanceof Error) e.message += ` (${imported} documents before it were imported)`;
        throw e;
      } finally {
        bar.finish();
      }
    });
    if (ctx.global.json) printJson(ctx, { imported });
    else ctx.io.err(`imported ${imported} documents into ${ctx.global.db}\n`);
    return EXIT.ok;
  },
};
export default importCommand;

type Rec = { collection: string; doc: Record<string, unknown> };

/** Parses and checks every line; `each` sees the records in order. */
async function readRecords(ctx: CliContext, source: string, into: string | undefined, each: (r: Rec) => void | Promise<void>): Promise<void> {
  let n = 0;
  const where = () => `line ${n} of ${source === "-" ? "stdin" : describeValue(source)}`;
  for await (const line of ctx.io.readLines(source)) {
    n++;
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new StowageError("input", `invalid JSON at ${where()}: ${(e as Error).message}`);
    }
    let rec: Rec;
    if (into !== undefined) {
      if (!isPlainObject(value)) throw new StowageError("input", `${where()} must be a JSON object, got ${describeValue(value)}`);
      rec = { collection: into, doc: value };
    } else {
      if (!isPlainObject(value) || typeof value.collection !== "string" || !isPlainObject(value.doc)) {
        throw new StowageError("input", `${where()} must be {"collection":...,"doc":{...}} (or pass --collection), got ${describeValue(value)}`);
      }
      rec = { collection: value.collection, doc: value.doc };
    }
    try {
      assertCollectionName(rec.collection);
      if (rec.doc.id !== undefined) assertDocId(rec.doc.id);
    } catch (e) {
      throw new StowageError("input", `${where()}: ${(e as Error).message}`);
    }
    await each(rec);
  }
}

/**
 * One local transaction per run of same-collection documents. Not `store.transaction`: that
 * would make the batch one atomic group on the server too, which an import does not need.
 */
async function writeBatch(store: Store, batch: Rec[]): Promise<void> {
  let start = 0;
  for (let i = 1; i <= batch.length; i++) {
    if (i === batch.length || batch[i].collection !== batch[start].collection) {
      await store.collection(batch[start].collection).putMany(batch.slice(start, i).map((r) => r.doc as any));
      start = i;
    }
  }
}
