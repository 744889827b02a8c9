import { Database } from "bun:sqlite";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { createKey, openServerStore } from "../src/server/index.ts";
import { readUrl } from "../test/helpers/server.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import type { Reporter } from "./report.ts";

/**
 * `bun run bench partial` (opt-in, slow; issue 34). Both halves run `stowage serve --rules` in
 * its own process.
 *
 * (a) A tenant of 1,000,000 documents (STOWAGE_BENCH_PARTIAL_N) of which every 100th has
 *     `tag: "mine"`: the initial pull of the subscription `docs where tag = "mine"` (10,000
 *     documents) against a second server whose tenant holds only those 10,000, pulled whole, in
 *     the same run (the anchor); best of five each, alternating. Aim: ratio ≤ 1.5. Pulls are
 *     plain HTTP pages of 1,000 (what a client's pull costs the server and the wire; local
 *     apply is the same 10,000 either way). Both files are seeded in SQL.
 * (b) 1,000 event streams (STOWAGE_BENCH_PARTIAL_STREAMS), 200 per child process
 *     (bench/partial-streams.ts), each subscribed to its own tag (disjoint views); then writes, each to one stream's tag.
 *     Per write: the streams that received an event (counted here), and the server's own
 *     count of streams it woke (`stowage_live_stream_wakes` in /metrics). Aim: exactly 1 each.
 */
const N = Number(process.env.STOWAGE_BENCH_PARTIAL_N ?? 1_000_000);
const EVERY = 100;
const STREAMS = Number(process.env.STOWAGE_BENCH_PARTIAL_STREAMS ?? 1000);
const WRITES = 40;
const ROUNDS = 5;
const SECTION = "Partial sync (issue 34; rough: shared machine)";
const BIN = join(import.meta.dir, "../src/cli/bin.ts");
const WAKES = "stowage_live_stream_wakes";

const RULES = `claims: sub
index docs: tag
docs read: true
docs write: true
`;

export default async function partialBench(r: Reporter): Promise<void> {
  // STOWAGE_BENCH_PARTIAL_ONLY=pull or streams runs one half.
  const only = process.env.STOWAGE_BENCH_PARTIAL_ONLY;
  if (only !== "streams") await pullHalf(r);
  if (only !== "pull") await wakeHalf(r);
}

async function pullHalf(r: Reporter): Promise<void> {
  const dir = tempDir("stowage-bench-partial-");
  const rules = dir.file("rules.txt");
  await Bun.write(rules, RULES);
  const bigKey = await newKey(dir.file("big.db"));
  const smallKey = await newKey(dir.file("small.db"));
  r.log(`  seeding ${N.toLocaleString("en-US")} documents (${(N / EVERY).toLocaleString("en-US")} tagged mine) and the ${(N / EVERY).toLocaleString("en-US")}-document anchor tenant`);
  seed(dir.file("big.db"), N, 1);
  seed(dir.file("small.db"), N / EVERY, EVERY);
  const big = await serveChild(dir.file("big.db"), rules);
  const small = await serveChild(dir.file("small.db"), rules);
  try {
    const subs = JSON.stringify([{ collection: "docs", where: { tag: "mine" } }]);
    const times = { big: [] as number[], small: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      times.big.push(await pullAll(big.url, bigKey, subs, N / EVERY));
      times.small.push(await pullAll(small.url, smallKey, null, N / EVERY));
    }
    const b = Math.min(...times.big);
    const s = Math.min(...times.small);
    r.figure(SECTION, `initial pull, subscription of ${(N / EVERY).toLocaleString("en-US")} in a ${N.toLocaleString("en-US")}-doc tenant`, b, "ms", { note: `best of ${ROUNDS} (${times.big.map((t) => t.toFixed(0)).join(", ")})` });
    r.figure(SECTION, `initial pull, tenant of only those ${(N / EVERY).toLocaleString("en-US")} (anchor)`, s, "ms", { note: `best of ${ROUNDS} (${times.small.map((t) => t.toFixed(0)).join(", ")})` });
    r.figure(SECTION, "subscription pull / anchor pull", b / s, "x", { note: "aim ≤ 1.5" });
  } finally {
    big.proc.kill("SIGTERM");
    small.proc.kill("SIGTERM");
    await Promise.all([big.proc.exited, small.proc.exited]);
    dir.cleanup();
  }
}

/** Pulls every page from the start; answers the milliseconds, checking the count. */
async function pullAll(url: string, key: string, subs: string | null, expect: number): Promise<number> {
  const start = performance.now();
  let cursor: string | undefined;
  let got = 0;
  for (;;) {
    const q = new URLSearchParams({ limit: "1000" });
    if (cursor) q.set("cursor", cursor);
    if (subs) q.set("subs", subs);
    const res = await fetch(`${url}/v1/pull?${q}`, { headers: { authorization: `Bearer ${key}` } });
    if (!res.ok) throw new Error(`bench: pull answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const page = (await res.json()) as { changes: unknown[]; cursor: string; more: boolean };
    got += page.changes.length;
    cursor = page.cursor;
    if (!page.more) break;
  }
  if (got !== expect) throw new Error(`bench: pulled ${got} changes, expected ${expect}`);
  return performance.now() - start;
}

async function wakeHalf(r: Reporter): Promise<void> {
  const dir = tempDir("stowage-bench-partial-live-");
  const rules = dir.file("rules.txt");
  await Bun.write(rules, RULES);
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dir.file("server.db") }) });
  // The server caps open streams per key (256), and a process's fetch pool per host: one key
  // and one child process per PER_PROC streams.
  const PER_PROC = 200;
  const procs = Math.ceil(STREAMS / PER_PROC);
  const keys: string[] = [];
  for (let i = 0; i <= procs; i++) keys.push((await createKey(store, "bench", { createIfMissing: true, label: `streams ${i}` })).key);
  await store.close();
  const server = await serveChild(dir.file("server.db"), rules, ["--metrics"]);
  const children: ReturnType<typeof Bun.spawn>[] = [];
  try {
    const received = new Array<number>(STREAMS).fill(0);
    const ready: Promise<void>[] = [];
    for (let p = 0; p < procs; p++) {
      const first = p * PER_PROC;
      const count = Math.min(PER_PROC, STREAMS - first);
      const child = Bun.spawn([process.execPath, join(import.meta.dir, "partial-streams.ts"), server.url, keys[p + 1], String(first), String(count)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
      children.push(child);
      ready.push(
        new Promise<void>((resolve, reject) => {
          void (async () => {
            const decoder = new TextDecoder();
            let text = "";
            for await (const chunk of child.stdout as ReadableStream<Uint8Array>) {
              text += decoder.decode(chunk, { stream: true });
              let nl: number;
              while ((nl = text.indexOf("\n")) >= 0) {
                const line = text.slice(0, nl);
                text = text.slice(nl + 1);
                if (line === "ready") resolve();
                else if (/^\d+$/.test(line)) received[Number(line)]++;
              }
            }
            reject(new Error(`bench: stream process ${p} ended before it was ready`));
          })();
        }),
      );
    }
    await Promise.all(ready);
    const writer = keys[0];
    const perWrite: number[] = [];
    const serverWakes: number[] = [];
    const hasCounter = (await wakes(server.url)) !== null;
    for (let w = 0; w < WRITES; w++) {
      const target = (w * 37) % STREAMS;
      const before = received.slice();
      const wakesBefore = await wakes(server.url);
      const res = await fetch(`${server.url}/v1/push`, {
        method: "POST",
        headers: { authorization: `Bearer ${writer}`, "content-type": "application/json" },
        body: JSON.stringify({ clientId: "benchwriter0001", ops: [{ opId: w + 1, collection: "docs", id: `w${w}`, op: "put", value: { tag: `t${target}`, n: w } }] }),
      });
      if (!res.ok) throw new Error(`bench: push answered ${res.status}: ${await res.text()}`);
      // Wait for the target's event, then a grace period for any stream woken wrongly.
      const until = performance.now() + 10_000;
      while (received[target] === before[target] && performance.now() < until) await Bun.sleep(5);
      if (received[target] === before[target]) throw new Error(`bench: write ${w} never reached its own stream t${target}`);
      await Bun.sleep(150);
      perWrite.push(received.reduce((n, c, i) => n + (c > before[i] ? 1 : 0), 0));
      const after = await wakes(server.url);
      if (wakesBefore !== null && after !== null) serverWakes.push(after - wakesBefore);
    }
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    r.figure(SECTION, `streams that got an event per write (${STREAMS} disjoint views, ${procs} processes, ${WRITES} writes)`, avg(perWrite), "streams", { note: `max ${Math.max(...perWrite)}, min ${Math.min(...perWrite)}; aim exactly 1` });
    if (hasCounter && serverWakes.length) {
      r.figure(SECTION, `streams the server woke per write (${WAKES})`, avg(serverWakes), "streams", { note: `max ${Math.max(...serverWakes)}, min ${Math.min(...serverWakes)}; aim exactly 1` });
    } else r.log(`  the server has no ${WAKES} in /metrics: only the client-side count is reported`);
  } finally {
    for (const c of children) {
      (c.stdin as import("bun").FileSink).end();
      c.kill("SIGTERM");
    }
    await Promise.all(children.map((c) => c.exited));
    server.proc.kill("SIGTERM");
    await server.proc.exited;
    dir.cleanup();
  }
}

/** The server's stream-wake counter (summed over labels), or null when it has none. */
async function wakes(url: string): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum: number | null = null;
  for (const line of text.split("\n")) if (line.startsWith(`${WAKES} `) || line.startsWith(`${WAKES}{`)) sum = (sum ?? 0) + Number(line.split(" ").pop());
  return sum;
}

async function newKey(path: string): Promise<string> {
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path }) });
  try {
    return (await createKey(store, "bench", { createIfMissing: true })).key;
  } finally {
    await store.close();
  }
}

/**
 * `n` documents in SQL numbered `step`, 2·`step`, …: `d<number>`, and `tag: "mine"` when the
 * number is a multiple of EVERY (else `other`). Step 1 is the big tenant; step EVERY the
 * anchor holding the same 10,000 documents (same ids, same values).
 */
function seed(path: string, n: number, step: number): void {
  const db = new Database(path);
  db.exec("pragma busy_timeout = 10000;");
  const tenant = (db.query("select id from stowage_tenants where name = 'bench'").get() as { id: string }).id;
  db.transaction(() => {
    db.query(
      `with recursive g(x) as (select 1 union all select x + 1 from g where x < ?)
       insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
       select ?, 'docs', 'd' || (x * ?), x, 0, 'seeder',
              json_object('id', 'd' || (x * ?), 'title', 'document ' || (x * ?), 'n', x * ?, 'tag', case when (x * ?) % ? = 0 then 'mine' else 'other' end), 0
       from g`,
    ).run(n, tenant, step, step, step, step, step, EVERY);
    db.query("update stowage_tenants set seq = ? where id = ?").run(n, tenant);
  })();
  db.close();
}

async function serveChild(data: string, rules: string, extra: string[] = []): Promise<{ proc: ReturnType<typeof Bun.spawn>; url: string }> {
  const proc = Bun.spawn([process.execPath, BIN, "serve", "--port", "0", "--json", "--data", data, "--rules", rules, "--rate-limit", "off", "--log-level", "off", ...extra], { stdout: "pipe", stderr: "inherit" });
  return { proc, url: await readUrl(proc) };
}
