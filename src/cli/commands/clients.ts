import { listClients } from "../../server/ops/clients.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { printJson, renderTable } from "../output.ts";
import { DATA_FLAG, withServerStore } from "../server-store.ts";

const USAGE = "clients [--tenant NAME] [--json]";

const clientsCommand: Command = {
  usage: USAGE,
  summary: "list the clients that synced with the server, and how far behind each is",
  help: [
    "Reads the server's database (--data), whether or not `serve` is running. For each client:",
    "the last op id it pushed, its last push and pull times, the sequence number of its last",
    "pulled cursor and how many changes it is behind the tenant. `serve` records pushes and",
    "pulls in batches once a second; pulls count only from clients that send their clientId",
    "(Stowage clients do). BEHIND is empty for a client never seen pulling.",
    "",
    "  stowage clients --tenant acme",
    "  stowage clients --json",
  ].join("\n"),
  flags: [DATA_FLAG, { name: "tenant", type: "string", short: "t", value: "NAME", help: "only this tenant's clients" }],
  async run(ctx, args) {
    expectPositionals(args, 0, 0, USAGE);
    const list = await withServerStore(ctx, args.flags, (store) => listClients(store, args.flags.tenant as string | undefined));
    if (ctx.global.json) {
      for (const c of list) printJson(ctx, c);
      return EXIT.ok;
    }
    if (list.length === 0) {
      ctx.io.out("no clients have synced yet\n");
      return EXIT.ok;
    }
    const when = (ms: number | null) => (ms === null ? "" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z"));
    const rows = list.map((c) => [c.tenant, c.clientId, String(c.lastOpId), when(c.lastPushAt), when(c.lastPullAt), c.pulledSeq === null ? "" : String(c.pulledSeq), c.behind === null ? "" : String(c.behind)]);
    ctx.io.out(renderTable(ctx, ["TENANT", "CLIENT", "LAST OP", "LAST PUSH", "LAST PULL", "CURSOR", "BEHIND"], rows));
    return EXIT.ok;
  },
};
export default clientsCommand;
