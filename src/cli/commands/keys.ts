import { isStowageError } from "../../errors.ts";
import { createKey, listKeys, revokeKey } from "../../server/keys.ts";
import { UsageError, expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { CliFailure, printJson, renderTable } from "../output.ts";
import { DATA_FLAG, serverDataLocation, withServerStore } from "../server-store.ts";

const USAGE = "keys create --tenant NAME [--label TEXT] [--scope read|write] | keys list [--tenant NAME] | keys revoke <key-id | key>";

const keys: Command = {
  usage: USAGE,
  summary: "create, list and revoke the server's API keys (one tenant per key)",
  help: [
    "Works on the server's database directly (--data), whether or not `serve` is running.",
    "`create` makes the tenant when it is new and prints the key once: it is stored only hashed.",
    "A `read` key may pull, stream events and GET documents; any write answers 403 forbidden.",
    "",
    "  stowage keys create --tenant acme --label laptop",
    "  stowage keys create --tenant acme --scope read --label dashboard",
    "  stowage keys list",
    "  stowage keys revoke k_0123456789abcdef",
  ].join("\n"),
  flags: [
    DATA_FLAG,
    { name: "tenant", type: "string", short: "t", value: "NAME", help: "tenant name (create: made if new; list: only its keys)" },
    { name: "label", type: "string", value: "TEXT", help: "free text to recognise the key by" },
    { name: "scope", type: "string", value: "read|write", help: "create: write (default: everything) or read (pull, events, GET only)" },
  ],
  async run(ctx, args) {
    const [action, arg] = expectPositionals(args, 1, 2, USAGE);
    const tenant = args.flags.tenant as string | undefined;
    if (action === "create") {
      expectPositionals(args, 1, 1, USAGE);
      if (!tenant) throw new UsageError("keys create needs --tenant NAME");
      const scope = (args.flags.scope as string | undefined) ?? "write";
      if (scope !== "read" && scope !== "write") throw new UsageError(`--scope must be read or write, got ${JSON.stringify(scope)}`);
      const made = await withServerStore(ctx, args.flags, (store) =>
        createKey(store, tenant, { label: args.flags.label as string | undefined, createIfMissing: true, scope }),
      );
      if (ctx.global.json) printJson(ctx, { id: made.id, key: made.key, tenant: made.tenant.name, tenantId: made.tenant.id, scope: made.scope });
      else {
        ctx.io.out(`${made.key}\n`);
        ctx.io.err(`${made.scope === "read" ? "read-only " : ""}key ${made.id} for tenant ${made.tenant.name} in ${serverDataLocation(ctx, args.flags)}; shown once, store it now\n`);
      }
      return EXIT.ok;
    }
    if (action === "list") {
      expectPositionals(args, 1, 1, USAGE);
      const list = await withServerStore(ctx, args.flags, (store) => listKeys(store, tenant));
      if (ctx.global.json) for (const k of list) printJson(ctx, k);
      else if (list.length === 0) ctx.io.out("no keys yet: stowage keys create --tenant NAME\n");
      else {
        const when = (ms: number | null) => (ms === null ? "" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z"));
        ctx.io.out(renderTable(ctx, ["ID", "TENANT", "SCOPE", "LABEL", "CREATED", "REVOKED"], list.map((k) => [k.id, k.tenantName, k.scope, k.label ?? "", when(k.createdAt), when(k.revokedAt)])));
      }
      return EXIT.ok;
    }
    if (action === "revoke") {
      if (arg === undefined) throw new UsageError(`keys revoke needs a key id (k_…) or the key: usage: ${USAGE}`);
      const info = await withServerStore(ctx, args.flags, (store) => revokeKey(store, arg)).catch((e: unknown) => {
        if (isStowageError(e, "input") && /^no key/.test(e.message)) throw new CliFailure(EXIT.notFound, e.message);
        throw e;
      });
      if (ctx.global.json) printJson(ctx, info);
      else ctx.io.out(`revoked ${info.id} (tenant ${info.tenantName})\n`);
      return EXIT.ok;
    }
    throw new UsageError(`unknown keys action ${JSON.stringify(action)}: use create, list or revoke`);
  },
};
export default keys;
