/**
 * End to end on whatever runtime runs this file: `node test/runtimes/e2e.ts`,
 * `deno run -A test/runtimes/e2e.ts` (or `bun`). A sync server on node:sqlite listens on
 * 127.0.0.1:0 through this runtime's listener; two clients, each on its own node:sqlite
 * file, write, sync, and read back what the other wrote. Not a bun:test file, so it has its
 * own small harness: prints one line per check and `N passed, N failed`, exits 1 on failure.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { createNodeSqliteAdapter } from "../../adapters/node-sqlite/index.ts";
import { runtimeName, runtimeVersion } from "../../src/runtime/runtime.ts";
import { serve, type RunningServer } from "../../src/runtime/serve.ts";
import { createKey, createServerHandler, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";

const results: { name: string; error?: unknown }[] = [];

async function check(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
    results.push({ name });
    console.log(`ok   ${name}`);
  } catch (error) {
    results.push({ name, error });
    console.log(`FAIL ${name}\n     ${(error as Error)?.stack ?? String(error)}`);
  }
}

function equal(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

/** Reads `GET /v1/events` on this runtime's fetch; `until(pred)` answers the first seq matching it (5 s at most). */
async function eventSeqs(base: string, apiKey: string): Promise<{ until(pred: (seq: number) => boolean): Promise<number>; close(): void }> {
  const abort = new AbortController();
  const res = await fetch(`${base}/v1/events`, { headers: { authorization: `Bearer ${apiKey}` }, signal: abort.signal });
  equal(res.status, 200, "GET /v1/events status");
  const reader = res.body!.getReader();
  let text = "";
  const seen: number[] = [];
  // One read in flight at a time, kept across timeouts so no chunk is dropped.
  let pending: ReturnType<typeof reader.read> | undefined;
  return {
    async until(pred) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const hit = seen.find(pred);
        if (hit !== undefined) return hit;
        if (Date.now() > deadline) throw new Error(`no matching event within 5 s (saw ${JSON.stringify(seen)})`);
        const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 250));
        pending ??= reader.read();
        const chunk = await Promise.race([pending, timeout]);
        if (chunk === "timeout") continue;
        pending = undefined;
        if (chunk.done) throw new Error("the event stream ended");
        text += new TextDecoder().decode(chunk.value);
        for (const m of text.matchAll(/data: \{"seq":(\d+)\}\n/g)) seen.push(Number(m[1]));
        text = text.slice(text.lastIndexOf("\n") + 1);
      }
    },
    close: () => abort.abort(),
  };
}

const expected = process.argv[2];
const dir = mkdtempSync(join(tmpdir(), "stowage-runtime-"));
let serverStore: ServerStore | undefined;
let server: RunningServer | undefined;
const clients: Stowage[] = [];
let child: ChildProcess | undefined;
const BIN = join(dirname(fileURLToPath(import.meta.url)), "../../src/cli/bin.ts");

/** argv that runs the CLI on this same runtime. */
function cli(...args: string[]): [string, string[]] {
  return [process.execPath, runtimeName() === "deno" ? ["run", "-A", BIN, ...args] : [BIN, ...args]];
}

/** The first stdout line of a child, parsed as JSON. */
function firstLine(proc: ChildProcess): Promise<any> {
  return new Promise((resolve, reject) => {
    let text = "";
    proc.stdout!.on("data", (chunk) => {
      text += String(chunk);
      const nl = text.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(text.slice(0, nl)));
    });
    proc.once("exit", (code) => reject(new Error(`CLI exited (${code}) before printing its URL`)));
  });
}

try {
  console.log(`# ${runtimeVersion()}`);
  if (expected) {
    await check(`runtime detection says ${expected}`, async () => equal(runtimeName(), expected, "runtimeName()"));
  }

  let key = "";
  await check("server store opens on node:sqlite and a key is created", async () => {
    serverStore = await openServerStore({ adapter: createNodeSqliteAdapter({ path: join(dir, "server.db") }) });
    key = (await createKey(serverStore, "runtime", { createIfMissing: true })).key;
    if (!key) throw new Error("no key");
  });

  await check(`server listens on 127.0.0.1 through the ${runtimeName()} listener`, async () => {
    server = await serve({ fetch: createServerHandler({ store: serverStore!, limits: { rate: false, maxBodyBytes: 64 * 1024 } }), port: 0 });
    const res = await fetch(`${server.url}/v1/health`);
    equal(res.status, 200, "GET /v1/health status");
    await res.body?.cancel();
  });

  const open = async (name: string) => {
    const s = await openStowage({ adapter: createNodeSqliteAdapter({ path: join(dir, `${name}.db`) }), url: server!.url, apiKey: key, autoSync: false });
    clients.push(s);
    return s;
  };

  let alice: Stowage;
  let bob: Stowage;
  await check("two clients open local stores on node:sqlite in hybrid mode", async () => {
    alice = await open("alice");
    bob = await open("bob");
    equal([alice.mode, bob.mode], ["hybrid", "hybrid"], "modes");
  });

  await check("alice writes locally (put, putMany, transaction) and syncs", async () => {
    const notes = alice.collection("notes");
    await notes.put({ id: "a1", text: "from alice", n: 1 });
    await notes.putMany([{ id: "a2", text: "two", n: 2 }, { id: "a3", text: "three", n: 3 }]);
    await alice.transaction(async (tx) => {
      await tx.collection("notes").patch("a1", { n: 10 });
      await tx.collection("tags").put({ id: "t1", label: "runtime" });
    });
    const r = await alice.sync();
    equal(r.pushed, 5, "ops pushed");
    equal((await alice.status()).outbox.size, 0, "alice outbox after sync");
  });

  await check("bob writes his own note, syncs, and reads back everything alice wrote", async () => {
    await bob.collection("notes").put({ id: "b1", text: "from bob", n: 7 });
    await bob.sync();
    const ids = (await bob.collection("notes").list({ limit: 100 })).items.map((d) => d.id);
    equal(ids, ["a1", "a2", "a3", "b1"], "bob's notes");
    equal(await bob.collection("notes").get("a1"), { id: "a1", text: "from alice", n: 10 }, "a1 on bob");
    equal(await bob.collection("tags").get("t1"), { id: "t1", label: "runtime" }, "t1 on bob");
  });

  await check("alice syncs and reads what bob wrote; a delete and a patch travel back", async () => {
    await alice.sync();
    equal(await alice.collection("notes").get("b1"), { id: "b1", text: "from bob", n: 7 }, "b1 on alice");
    await bob.collection("notes").delete("a2");
    await bob.collection("notes").patch("a3", { text: "three, edited by bob" });
    await bob.sync();
    await alice.sync();
    equal(await alice.collection("notes").get("a2"), undefined, "a2 deleted on alice");
    equal(await alice.collection("notes").get("a3"), { id: "a3", text: "three, edited by bob", n: 3 }, "a3 patched on alice");
    equal(await alice.collection("notes").count(), 3, "alice note count");
  });

  await check("a third client starting empty pulls the whole state", async () => {
    const carol = await open("carol");
    await carol.sync();
    const notes = (await carol.collection("notes").list({ limit: 100 })).items;
    equal(notes.map((d) => d.id), ["a1", "a3", "b1"], "carol's notes");
    equal((await carol.status()).outbox.size, 0, "carol outbox");
  });

  await check("a client on libsql (file:) syncs with the same server on this runtime", async () => {
    const dana = await openStowage({ adapter: createLibsqlAdapter({ url: `file:${join(dir, "dana.db")}` }), url: server!.url, apiKey: key, autoSync: false });
    clients.push(dana);
    await dana.sync();
    await dana.transaction(async (tx) => {
      await tx.collection("notes").put({ id: "l1", text: "from libsql", n: 12 });
      await tx.collection("notes").patch("a1", { viaLibsql: true });
    });
    await dana.sync();
    equal((await dana.collection("notes").list({ limit: 100 })).items.map((d) => d.id), ["a1", "a3", "b1", "l1"], "dana's notes");
    await alice.sync();
    equal(await alice.collection("notes").get("a1"), { id: "a1", text: "from alice", n: 10, viaLibsql: true }, "a1 on alice");
    equal(await alice.collection("notes").get("l1"), { id: "l1", text: "from libsql", n: 12 }, "l1 on alice");
  });

  await check(`bad, oversized and streamed requests get 4xx answers through the ${runtimeName()} listener`, async () => {
    const post = (body: BodyInit, headers: Record<string, string> = {}) =>
      fetch(`${server!.url}/v1/push`, { method: "POST", body, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers }, duplex: "half" } as RequestInit);
    const answer = async (res: Response) => [res.status, ((await res.json()) as { error?: { code?: string } }).error?.code ?? "none"];
    const big = JSON.stringify({ clientId: "big", ops: [{ opId: 1, collection: "notes", id: "x", op: "put", value: { pad: "x".repeat(100 * 1024) } }] });
    equal((await answer(await post(big)))[0], 413, "oversized body by Content-Length");
    const chunks = [big.slice(0, 40_000), big.slice(40_000)];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    equal((await answer(await post(stream)))[0], 413, "oversized chunked body");
    equal((await answer(await post("{not json")))[0], 400, "malformed JSON");
    const noAuth = await fetch(`${server!.url}/v1/pull`);
    equal(noAuth.status, 401, "no key");
    await noAuth.body?.cancel();
    const missing = await fetch(`${server!.url}/v1/nowhere`, { headers: { authorization: `Bearer ${key}` } });
    equal(missing.status, 404, "unknown route");
    await missing.body?.cancel();
    // A normal streamed (chunked) push still goes through.
    const ok = JSON.stringify({ clientId: "streamer", ops: [{ opId: 1, collection: "streamed", id: "s1", op: "put", value: { ok: true } }] });
    const small = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(ok.slice(0, 10)));
        controller.enqueue(new TextEncoder().encode(ok.slice(10)));
        controller.close();
      },
    });
    const res = await post(small);
    equal(res.status, 200, "chunked push status");
    equal(((await res.json()) as { results: { status: string }[] }).results.map((r) => r.status), ["applied"], "chunked push results");
  });

  await check(`the CLI runs on ${runtimeName()}: \`keys create\` and \`serve\` serve two clients, SIGTERM stops it`, async () => {
    const data = join(dir, "cli-server.db");
    const [cmd, keyArgs] = cli("keys", "create", "--tenant", "cli", "--data", data, "--json");
    const cliKey = JSON.parse(execFileSync(cmd, keyArgs, { encoding: "utf8" })).key as string;
    const [serveCmd, serveArgs] = cli("serve", "--port", "0", "--data", data, "--json");
    child = spawn(serveCmd, serveArgs, { stdio: ["ignore", "pipe", "inherit"] });
    const { url } = await firstLine(child);
    const dave = await openStowage({ adapter: createNodeSqliteAdapter({ path: join(dir, "dave.db") }), url, apiKey: cliKey, autoSync: false });
    const erin = await openStowage({ adapter: createNodeSqliteAdapter({ path: join(dir, "erin.db") }), url, apiKey: cliKey, autoSync: false });
    clients.push(dave, erin);
    await dave.collection("notes").put({ id: "d1", via: "cli server" });
    await dave.sync();
    await erin.sync();
    equal(await erin.collection("notes").get("d1"), { id: "d1", via: "cli server" }, "d1 on erin");
    equal(await erin.collection("notes").count(), 1, "erin note count");
    const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    const code = await exited;
    // Deno's node:child_process reports (null, "SIGTERM") as soon as kill() is called, before
    // the child has run its handler; the shell sees exit 0. So also wait until it stops answering.
    if (runtimeName() !== "deno") equal(code, 0, "serve exit code after SIGTERM");
    let answering = true;
    for (let i = 0; i < 100 && answering; i++) {
      answering = await fetch(`${url}/v1/health`).then(
        async (r) => (await r.body?.cancel(), true),
        () => false,
      );
      if (answering) await new Promise((r) => setTimeout(r, 50));
    }
    equal(answering, false, "server still answering after SIGTERM");
    child = undefined;
  });
  await check(`live events on ${runtimeName()}: this listener streams pokes; two \`serve\` processes on one SQLite file poke each other`, async () => {
    const mine = await eventSeqs(server!.url, key);
    const head = await mine.until((n) => n >= 0);
    const put = await fetch(`${server!.url}/v1/docs/live/x1`, { method: "PUT", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: "{}" });
    equal(put.status, 200, "PUT status");
    await put.body?.cancel();
    equal(await mine.until((n) => n > head), head + 1, "seq after the PUT");
    mine.close();

    const data = join(dir, "live-server.db");
    const [cmd, keyArgs] = cli("keys", "create", "--tenant", "live", "--data", data, "--json");
    const liveKey = JSON.parse(execFileSync(cmd, keyArgs, { encoding: "utf8" })).key as string;
    const [serveCmd, serveArgs] = cli("serve", "--port", "0", "--data", data, "--json");
    const procs = [spawn(serveCmd, serveArgs, { stdio: ["ignore", "pipe", "inherit"] }), spawn(serveCmd, serveArgs, { stdio: ["ignore", "pipe", "inherit"] })];
    try {
      const [a, b] = (await Promise.all(procs.map(firstLine))).map((l) => l.url as string);
      const onB = await eventSeqs(b, liveKey);
      equal(await onB.until((n) => n >= 0), 0, "B's initial seq");
      const res = await fetch(`${a}/v1/docs/live/y1`, { method: "PUT", headers: { authorization: `Bearer ${liveKey}`, "content-type": "application/json" }, body: "{}" });
      equal(res.status, 200, "PUT through A");
      await res.body?.cancel();
      equal(await onB.until((n) => n >= 1), 1, "B's seq after A's write");
      onB.close();
    } finally {
      for (const p of procs) p.kill("SIGKILL");
    }
  });
} catch (error) {
  results.push({ name: "harness", error });
  console.log(`FAIL harness\n     ${(error as Error)?.stack ?? String(error)}`);
} finally {
  child?.kill("SIGKILL");
  for (const c of clients) await c.close().catch(() => {});
  await server?.stop().catch(() => {});
  await serverStore?.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}

const failed = results.filter((r) => r.error !== undefined).length;
console.log(`${runtimeName()}: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
