import { StowageError, describeValue } from "../../errors.ts";
import { stowageBackend } from "../../mcp/backend.ts";
import { DEFAULT_SEARCH_FIELDS } from "../../mcp/tools.ts";
import { assertFieldPath } from "../../names.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { openSynced } from "../local.ts";
import { paint, printJson } from "../output.ts";

const USAGE = "search <collection> <query> [--fields FIELD,FIELD] [--limit N] [--any]";

const search: Command = {
  usage: USAGE,
  summary: "full-text search a collection: ranked results with snippets",
  help: [
    "Words must all match (--any: one is enough); \"quoted phrase\" matches in order; word* is a prefix.",
    "Nothing in the query is search syntax, so any text is safe to pass. Searches the fields the",
    `collection's index was built for, else --fields, else ${DEFAULT_SEARCH_FIELDS.join(", ")}. The first search`,
    "of a collection builds its index (later writes keep it current).",
    "",
    "  stowage search memories 'database migration'",
    "  stowage search notes 'deploy*' --fields title,body --json",
  ].join("\n"),
  flags: [
    { name: "fields", type: "string", value: "FIELD,FIELD", help: "fields to search (rebuilds the index when they change)" },
    { name: "limit", type: "number", short: "n", value: "N", help: "at most N results, 1-1000 (default 20)" },
    { name: "any", type: "boolean", help: "match documents with any of the words, not all" },
  ],
  async run(ctx, args) {
    const [collection, ...words] = expectPositionals(args, 2, Infinity, USAGE);
    const query = words.join(" ");
    const limit = args.flags.limit as number | undefined;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      throw new StowageError("input", `--limit must be a positive integer, got ${describeValue(limit)}`);
    }
    const flagged = args.flags.fields as string | undefined;
    const stowage = await openSynced(ctx, { autoSync: false });
    let result;
    try {
      const backend = stowageBackend(stowage);
      const fields = flagged !== undefined
        ? flagged.split(",").map((f) => assertFieldPath(f.trim()))
        : ((await backend.indexedFields?.(collection)) ?? DEFAULT_SEARCH_FIELDS);
      result = await backend.collection(collection, fields).search(query, {
        limit: limit ?? 20,
        match: args.flags.any === true ? "any" : "all",
        highlight: ctx.global.json || !ctx.io.stdoutTTY ? ["**", "**"] : ["\x1b[1m", "\x1b[0m"],
      });
    } finally {
      await stowage.close();
    }
    if (result.note) ctx.io.err(`${paint(ctx, "yellow", "note:")} ${result.note}\n`);
    if (ctx.global.json) {
      for (const h of result.hits) printJson(ctx, { id: h.id, score: h.score, snippet: h.snippet, doc: h.doc });
    } else if (result.hits.length === 0) {
      ctx.io.err(`no documents in ${collection} match ${describeValue(query)}\n`);
    } else {
      for (const h of result.hits) ctx.io.out(`${h.id}  ${h.score.toFixed(2)}  ${h.snippet.replace(/\s+/g, " ")}\n`);
    }
    return EXIT.ok;
  },
};
export default search;
