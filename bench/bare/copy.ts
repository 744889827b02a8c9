import { Database } from "bun:sqlite";
import { join } from "node:path";
import { sqlitePragmas } from "../../src/adapter.ts";
import { readUrl } from "../../test/helpers/server.ts";

/**
 * The anchor of the initial pull at scale (issue 35): a bare copy of the same rows between the
 * server's store and a new SQLite file over loopback HTTP: `select` a page → JSON → `insert`,
 * with the next page requested before this one is written (as the Stowage client does), each
 * page its own transaction, multi-row inserts, the same pragmas as a Stowage client's file.
 */
export async function bareCopy(url: string, path: string, pageRows = 1000): Promise<{ rows: number; ms: number; peakRss: number }> {
  const db = new Database(path, { create: true });
  db.exec(sqlitePragmas({ path }));
  db.exec("create table docs (collection text not null, id text not null, body text not null, primary key (collection, id)) without rowid");
  const CHUNK = 300;
  const many = db.prepare(`insert into docs (collection, id, body) values ${new Array(CHUNK).fill("(?, ?, ?)").join(",")}`);
  const one = db.prepare("insert into docs (collection, id, body) values (?, ?, ?)");
  const write = db.transaction((rows: [string, string, string][]) => {
    let i = 0;
    for (; i + CHUNK <= rows.length; i += CHUNK) {
      const params: string[] = [];
      for (let j = i; j < i + CHUNK; j++) params.push(rows[j][0], rows[j][1], rows[j][2]);
      many.run(...params);
    }
    for (; i < rows.length; i++) one.run(rows[i][0], rows[i][1], rows[i][2]);
  });
  const fetchPage = (after: number) => fetch(`${url}/page?after=${after}&limit=${pageRows}`).then((r) => r.text());
  let peakRss = process.memoryUsage().rss;
  let rows = 0;
  const start = performance.now();
  let inflight = fetchPage(0);
  for (;;) {
    const text = await inflight;
    // The page's last seq is at its end; ask for the next page before parsing and writing this one.
    const last = Number(/"last":(-?\d+)\}$/.exec(text)![1]);
    if (last >= 0) inflight = fetchPage(last);
    const page = JSON.parse(text) as { rows: [string, string, string][] };
    if (page.rows.length === 0) break;
    write(page.rows);
    rows += page.rows.length;
    if (rows % 20_000 < pageRows) peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const ms = performance.now() - start;
  db.close();
  return { rows, ms, peakRss };
}

/** Starts the bare copy's server (server.ts) in its own process. */
export async function spawnBareServer(args: string[]): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "server.ts"), ...args], { stdout: "pipe", stderr: "inherit" });
  const url = await readUrl(proc);
  return {
    url,
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
