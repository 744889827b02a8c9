import { createServerHandler } from "../../server/handler.ts";
import { createKey } from "../../server/keys.ts";
import { openServerStore, type ServerStore } from "../../server/store.ts";
import { serve, type RunningServer } from "../../runtime/serve.ts";
import { openStowage, type Stowage } from "../../stowage.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type CliContext, type Command } from "../context.ts";
import { paint, printJson } from "../output.ts";

const USAGE = "demo [--keep]";

const demo: Command = {
  usage: USAGE,
  summary: "a server and two clients in a temp dir: write, go offline, converge (npm start)",
  help: [
    "Runs in a few seconds with nothing to configure: starts a sync server on embedded SQLite in",
    "a temporary directory, opens two clients (alice and bob, each with its own SQLite file),",
    "writes on both, stops the server, keeps writing, restarts it, and shows both converge.",
    "--keep leaves the directory and prints commands that use it.",
  ].join("\n"),
  flags: [{ name: "keep", type: "boolean", help: "keep the temporary directory for the commands printed at the end" }],
  async run(ctx, args) {
    expectPositionals(args, 0, 0, USAGE);
    const dir = ctx.io.tempDir("stowage-demo-");
    const keep = args.flags.keep === true;
    const say = (text: string) => ctx.io.out(`${text}\n`);
    const step = (n: number, text: string) => say(`\n${paint(ctx, "bold", `${n}.`)} ${paint(ctx, "bold", text)}`);
    const why = (text: string) => say(paint(ctx, "dim", `   ${text}`));
    let serverStore: ServerStore | undefined;
    let server: RunningServer | undefined;
    const clients: Stowage[] = [];
    try {
      step(1, "A sync server on embedded SQLite");
      const data = `${dir.path}/server.db`;
      serverStore = await openServerStore({ adapter: await ctx.io.sqliteAdapter(data) });
      const handler = createServerHandler({ store: serverStore });
      server = await serve({ fetch: handler, port: 0 });
      const port = server.port;
      const { key } = await createKey(serverStore, "demo", { createIfMissing: true, label: "demo" });
      say(`   listening on ${server.url}, data in ${data}`);
      say(`   API key for tenant "demo": ${key.slice(0, 24)}…`);

      step(2, "Two clients, each with its own local SQLite file");
      const open = async (name: string) => {
        const c = await openStowage({ adapter: await ctx.io.sqliteAdapter(`${dir.path}/${name}.db`), url: server!.url, apiKey: key, env: {}, autoSync: false });
        clients.push(c);
        return c;
      };
      const alice = await open("alice");
      const bob = await open("bob");
      say(`   alice → ${dir.path}/alice.db`);
      say(`   bob   → ${dir.path}/bob.db`);
      why("Reads never touch the network; writes go to local SQLite and an outbox in one transaction.");

      step(3, "Both write, then sync");
      await alice.collection("todos").put({ id: "milk", title: "buy milk", done: false });
      await bob.collection("todos").put({ id: "bread", title: "bake bread", done: false });
      say("   alice: put todos/milk     bob: put todos/bread");
      await syncAll(ctx, [alice, bob, alice]);
      await show(ctx, { alice, bob });
      why("(The background loop does this every STOWAGE_SYNC_INTERVAL and after each write; the demo calls sync() itself so each step is visible.)");

      step(4, "The server goes down; both keep writing");
      await server.stop();
      server = undefined;
      await alice.collection("todos").patch("milk", { done: true });
      await bob.collection("todos").patch("milk", { note: "oat milk" });
      await bob.collection("todos").put({ id: "jam", title: "make jam", done: false });
      await alice.collection("todos").delete("bread");
      say("   alice: patch milk {done:true}, delete bread");
      say("   bob:   patch milk {note:\"oat milk\"}, put jam");
      for (const [name, c] of [["alice", alice], ["bob", bob]] as const) {
        const err = await c.sync().then(() => null, (e: Error) => e);
        const s = await c.status();
        say(`   ${name.padEnd(5)} sync → ${err ? paint(ctx, "yellow", "server unreachable") : "ok?"}; ${s.outbox.size} writes queued locally, reads still work`);
      }

      why("Nothing failed for the application: the writes are committed locally and wait in the outbox.");

      step(5, "The server comes back on the same port; the queues drain");
      server = await serve({ fetch: handler, port });
      say(`   listening again on ${server.url}`);
      await syncAll(ctx, [alice, bob, alice]);
      const same = await show(ctx, { alice, bob });
      const milk = await alice.collection("todos").get("milk");
      say(same ? paint(ctx, "green", "   converged: alice and bob hold identical data") : paint(ctx, "red", "   NOT converged"));
      say(`   both edits to milk survived (merged per field): ${JSON.stringify(milk)}`);
      why("Each op carries (client id, op id), so a retried push is applied once; the pull cursor is a server sequence, never a clock.");
      if (ctx.global.json) printJson(ctx, { converged: same, docs: (await alice.collection("todos").list()).items });

      say(`\n${paint(ctx, "bold", "Try next")}`);
      for (const line of nextSteps(ctx, keep ? { dir: dir.path, key, port } : undefined)) say(`   ${line}`);
      return same ? EXIT.ok : EXIT.failure;
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      await server?.stop().catch(() => {});
      await serverStore?.close().catch(() => {});
      if (!keep) dir.cleanup();
    }
  },
};
export default demo;

async function syncAll(ctx: CliContext, clients: Stowage[]): Promise<void> {
  let pushed = 0;
  let pulled = 0;
  for (const c of clients) {
    const r = await c.sync();
    pushed += r.pushed;
    pulled += r.pulled;
  }
  ctx.io.out(`   sync: ${pushed} writes pushed, ${pulled} changes pulled\n`);
}

/** Prints both clients' todos side by side; answers whether they are identical. */
async function show(ctx: CliContext, clients: Record<string, Stowage>): Promise<boolean> {
  const lists: string[][] = [];
  for (const [name, c] of Object.entries(clients)) {
    const docs = (await c.collection("todos").list()).items;
    lists.push(docs.map((d) => JSON.stringify(d)));
    ctx.io.out(`   ${name.padEnd(5)} has ${docs.length}: ${docs.map((d) => `${d.id}${d.done ? " ✓" : ""}`).join(", ")}\n`);
  }
  return lists.every((l) => JSON.stringify(l) === JSON.stringify(lists[0]));
}

function nextSteps(ctx: CliContext, kept: { dir: string; key: string; port: number } | undefined): string[] {
  const s = ctx.io.self;
  if (kept) {
    return [
      `${s} serve --data ${kept.dir}/server.db --port ${kept.port} &`,
      `export STOWAGE_URL=http://127.0.0.1:${kept.port} STOWAGE_API_KEY=${kept.key}`,
      `${s} list todos --db ${kept.dir}/alice.db`,
      `${s} put todos '{"title":"from the shell"}' --db ${kept.dir}/bob.db && ${s} sync --db ${kept.dir}/bob.db`,
      `${s} sync --db ${kept.dir}/alice.db && ${s} list todos --db ${kept.dir}/alice.db`,
    ];
  }
  return [
    `${s} keys create --tenant me          # prints an API key once`,
    `${s} serve &                          # http://127.0.0.1:8787, data in your user data dir`,
    `export STOWAGE_URL=http://127.0.0.1:8787 STOWAGE_API_KEY=<the key>`,
    `${s} put todos '{"title":"try stowage"}'`,
    `${s} sync && ${s} list todos`,
    `${s} sync --watch                     # keep syncing; ${s} --help for everything`,
    `${s} demo --keep                      # this demo, leaving its files to explore`,
  ];
}
