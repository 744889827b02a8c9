import { Database } from "bun:sqlite";
import { join } from "node:path";
import { readUrl } from "../../test/helpers/server.ts";

/** The naive seed pattern's client: writes locally, POSTs each write, pulls `since=` the newest timestamp it saw. */
export class NaiveClient {
  readonly #db: Database;
  readonly #url: string;
  readonly #put;
  #since = 0;

  constructor(path: string, url: string) {
    this.#db = new Database(path, { create: true });
    this.#db.exec("pragma journal_mode = wal; pragma synchronous = normal;");
    this.#db.exec("create table if not exists docs (key text primary key, body text not null)");
    this.#put = this.#db.prepare("insert into docs (key, body) values (?, ?) on conflict (key) do update set body = excluded.body");
    this.#url = url;
  }

  /** Local write, then one POST (the seed pattern pushes each write as it happens). */
  async write(key: string, body: Record<string, unknown>): Promise<void> {
    this.#put.run(key, JSON.stringify(body));
    const res = await fetch(`${this.#url}/docs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key, body }) });
    await res.arrayBuffer();
  }

  /** Pulls every change after the newest timestamp seen, in one unpaged response. */
  async sync(): Promise<number> {
    const res = await fetch(`${this.#url}/changes?since=${this.#since}`);
    const rows = (await res.json()) as { key: string; body: string; updated_at: number }[];
    if (rows.length) {
      this.#db.transaction(() => {
        for (const r of rows) this.#put.run(r.key, r.body);
      })();
      this.#since = rows[rows.length - 1].updated_at;
    }
    return rows.length;
  }

  has(key: string): boolean {
    return this.#db.query("select 1 from docs where key = ?").get(key) !== null;
  }

  close(): void {
    this.#db.close();
  }
}

/** Starts the naive server in its own process over `dir/naive-server.db`. */
export async function spawnNaiveServer(dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "server.ts"), join(dir, "naive-server.db")], { stdout: "pipe", stderr: "inherit" });
  const url = await readUrl(proc);
  return {
    url,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
