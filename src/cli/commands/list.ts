import { StowageError, describeValue } from "../../errors.ts";
import { all } from "../../store/sql.ts";
import type { FieldFilter, ListOptions, Scalar } from "../../store/types.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { withDocs, withStore } from "../local.ts";
import { cell, printJson, renderTable } from "../output.ts";

const USAGE = "list [<collection>] [--where FIELD<op>VALUE]... [--order [-]FIELD] [--limit N] [--all]";
const OPS: [string, keyof Exclude<FieldFilter, Scalar>][] = [
  [">=", "gte"],
  ["<=", "lte"],
  ["!=", "ne"],
  ["=", "eq"],
  [">", "gt"],
  ["<", "lt"],
];

const list: Command = {
  usage: USAGE,
  summary: "list documents of a collection, or the collections with their counts",
  help: [
    "Filters: --where done=false, --where 'priority>=2', --where 'author.name=Ada' (values are",
    "JSON when they parse, text otherwise; quote text that looks like JSON: --where 'code=\"42\"').",
    "Order with --order priority or --order -priority (descending). Default limit 100; --all pages",
    "through everything. People get a table; --json prints one document per line (NDJSON).",
    "",
    "  stowage list                       # collections and counts",
    "  stowage list todos --where done=false --order -priority --limit 10",
  ].join("\n"),
  flags: [
    { name: "where", type: "list", short: "w", value: "FIELD<op>VALUE", help: "filter, repeatable; ops = != > >= < <=" },
    { name: "order", type: "string", value: "[-]FIELD", help: "order by a field, - for descending" },
    { name: "limit", type: "number", short: "n", value: "N", help: "at most N documents (default 100)" },
    { name: "cursor", type: "string", value: "CURSOR", help: "continue after a previous page" },
    { name: "all", type: "boolean", help: "every matching document, page by page" },
  ],
  async run(ctx, args) {
    const [collection] = expectPositionals(args, 0, 1, USAGE);
    if (collection === undefined) return listCollections(ctx);
    const where: Record<string, FieldFilter> = {};
    for (const w of (args.flags.where as string[] | undefined) ?? []) addFilter(where, w);
    const limit = args.flags.limit as number | undefined;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      throw new StowageError("input", `--limit must be a positive integer, got ${describeValue(limit)}`);
    }
    const everything = args.flags.all === true;
    const wanted = everything ? Infinity : (limit ?? 100);
    const rows: Record<string, unknown>[] = [];
    let next: string | undefined;
    await withDocs(ctx, async (docs) => {
      const c = docs(collection);
      let cursor = args.flags.cursor as string | undefined;
      let seen = 0;
      do {
        const page = Math.min(1000, wanted - seen);
        const options: ListOptions = { where, limit: page, cursor };
        if (args.flags.order) options.orderBy = args.flags.order as string;
        const result = await c.list(options);
        for (const doc of result.items) {
          if (ctx.global.json) printJson(ctx, doc); // stream: memory stays at one page
          else rows.push(doc);
        }
        seen += result.items.length;
        cursor = result.next;
      } while (cursor && seen < wanted);
      next = cursor;
    });
    if (!ctx.global.json) ctx.io.out(rows.length ? table(ctx, rows) : `no documents in ${collection}\n`);
    // On stderr in both forms: NDJSON on stdout stays documents only.
    if (next) ctx.io.err(`more: --cursor ${next} (or --all)\n`);
    return EXIT.ok;
  },
};
export default list;

async function listCollections(ctx: Parameters<Command["run"]>[0]): Promise<number> {
  const counts = await withStore(ctx, (store) =>
    all<{ collection: string; n: number }>(store.db, "select collection, count(*) as n from _stowage_docs group by collection order by collection"),
  );
  if (ctx.global.json) for (const c of counts) printJson(ctx, { collection: c.collection, count: Number(c.n) });
  else ctx.io.out(counts.length ? renderTable(ctx, ["COLLECTION", "DOCS"], counts.map((c) => [c.collection, String(c.n)])) : "no collections yet\n");
  return EXIT.ok;
}

/** `field<op>value` into the list filter; the value is JSON when it parses, text otherwise. */
export function addFilter(where: Record<string, FieldFilter>, text: string): void {
  const at = /[<>!=]/.exec(text);
  const found = at && OPS.find(([op]) => text.startsWith(op, at.index));
  if (!at || !found || at.index === 0) {
    throw new StowageError("input", `invalid --where ${describeValue(text)}: use FIELD=VALUE, FIELD!=VALUE, FIELD>VALUE, FIELD>=VALUE, FIELD<VALUE or FIELD<=VALUE`);
  }
  const field = text.slice(0, at.index);
  const raw = text.slice(at.index + found[0].length);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  if (value !== null && typeof value === "object") {
    throw new StowageError("input", `--where ${field} needs a string, number, boolean or null, got ${describeValue(raw)}`);
  }
  const existing = where[field];
  const merged = existing === undefined ? {} : typeof existing === "object" && existing !== null ? existing : { eq: existing };
  where[field] = { ...merged, [found[1]]: value as Scalar };
}

/** id first, then the fields most documents have, up to a terminal-friendly number. */
function table(ctx: Parameters<Command["run"]>[0], rows: Record<string, unknown>[]): string {
  const freq = new Map<string, number>();
  for (const r of rows) for (const k of Object.keys(r)) if (k !== "id") freq.set(k, (freq.get(k) ?? 0) + 1);
  const fields = [...freq.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k]) => k);
  return renderTable(ctx, ["ID", ...fields.map((f) => f.toUpperCase())], rows.map((r) => [String(r.id), ...fields.map((f) => cell(r[f]))]));
}
