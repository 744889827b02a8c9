import { Database } from "bun:sqlite";
import { join } from "node:path";
import { readUrl } from "../test/helpers/server.ts";

const RELAY = join(import.meta.dir, "naive/relay.ts");
const RELAY_READERS = join(import.meta.dir, "live-relay-readers.ts");
const RELAY_WRITER = join(import.meta.dir, "live-relay-writer.ts");

/**
 * Propagation through the bare SSE relay (naive/relay.ts) in its own process: the writer POSTs
 * a document, one subscriber's stream delivers it; `changes` of them one at a time, as
 * live.ts sends Stowage's. With `durableDir` it is the durable relay, the anchor of the live
 * rows: the writer, in its own process (live-relay-writer.ts) as Stowage's A is, upserts the
 * document into its SQLite file first, the relay into its own
 * before the event goes out, the subscriber into its own on the event (all WAL,
 * synchronous=normal, as Stowage's default), and the clock stops after that insert. The floor
 * a live sync over HTTP and SSE that stores what it sends cannot beat on this machine: one
 * request, one event, three inserts, and none of auth, protocol, conflict handling or queries.
 */
export async function relayLatencies(changes: number, durableDir?: string, warmup = 20): Promise<number[]> {
  const proc = Bun.spawn([process.execPath, RELAY, ...(durableDir ? [join(durableDir, "relay.db")] : [])], { stdout: "pipe", stderr: "inherit" });
  const abort = new AbortController();
  const reader = durableDir ? openDocs(join(durableDir, "reader.db")) : undefined;
  let writer: RelayWriter | undefined;
  try {
    const url = await readUrl(proc);
    const res = await fetch(`${url}/events`, { signal: abort.signal });
    const body = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let waiting: ((n: number) => void) | undefined;
    void (async () => {
      for (;;) {
        const { value, done } = await body.read().catch(() => ({ value: undefined, done: true as const }));
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!event.startsWith("data: ")) continue;
          const text = event.slice(6);
          const doc = JSON.parse(text) as { id: string; n: number };
          reader?.upsert.run(doc.id, text);
          waiting?.(doc.n);
        }
      }
    })();
    const samples: number[] = [];
    if (durableDir) {
      // The writer in its own process, as Stowage's A is: the clock runs from its insert to B's.
      writer = await relayWriter(url, join(durableDir, "writer.db"));
      const at = new Map<number, number>();
      for (let i = 0; i < changes + warmup; i++) {
        const delivered = new Promise<void>((resolve) => (waiting = (n) => n === i && (at.set(i, performance.timeOrigin + performance.now()), resolve())));
        writer.write(i);
        await delivered;
      }
      const starts = await writer.starts();
      for (let i = warmup; i < changes + warmup; i++) samples.push(at.get(i)! - starts.get(i)!);
      return samples.sort((x, y) => x - y);
    }
    for (let i = 0; i < changes + warmup; i++) {
      const start = performance.now();
      const delivered = new Promise<void>((resolve) => (waiting = (n) => n === i && resolve()));
      await (await fetch(`${url}/write`, { method: "POST", body: JSON.stringify({ id: `d${i % 50}`, n: i }) })).text();
      await delivered;
      if (i >= warmup) samples.push(performance.now() - start);
    }
    return samples.sort((x, y) => x - y);
  } finally {
    writer?.kill();
    abort.abort();
    proc.kill("SIGTERM");
    await proc.exited;
    reader?.db.close();
  }
}

interface RelayWriter {
  write(n: number): void;
  /** Ends the writer and answers each write's start time (absolute). */
  starts(): Promise<Map<number, number>>;
  kill(): void;
}

/** live-relay-writer.ts as a child process, once it is ready. */
async function relayWriter(url: string, path: string): Promise<RelayWriter> {
  const child = Bun.spawn([process.execPath, RELAY_WRITER, url, path], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const lines: string[] = [];
  let wake: () => void = () => {};
  const reading = readLines(child.stdout as ReadableStream<Uint8Array>, (line) => {
    lines.push(line);
    wake();
  });
  const end = Date.now() + 30_000;
  while (!lines.includes("ready") && Date.now() < end) await new Promise<void>((res) => ((wake = res), setTimeout(res, 50)));
  if (!lines.includes("ready")) throw new Error("bench live: the relay writer did not start");
  const stdin = child.stdin as { write(s: string): void; flush(): void; end(): void };
  return {
    write(n) {
      stdin.write(`${n}\n`);
      stdin.flush();
    },
    async starts() {
      stdin.end();
      await Promise.race([reading, new Promise((res) => setTimeout(res, 30_000))]);
      const line = lines.find((l) => l.startsWith("starts "));
      if (!line) throw new Error("bench live: the relay writer did not report its start times");
      return new Map(Object.entries(JSON.parse(line.slice(7)) as Record<string, number>).map(([n, t]) => [Number(n), t]));
    },
    kill: () => child.kill(),
  };
}

/**
 * The durable relay with `subscribers` streams spread over `procs` child processes
 * (live-relay-readers.ts), each stream storing every event in its own SQLite file, and the
 * writer in its own: the anchor of the rows with Stowage's subscribers spread the same way.
 * Latency from the writer's insert to each subscriber's insert, over every delivery.
 */
export async function relaySpreadLatencies(changes: number, subscribers: number, procs: number, dir: string, warmup = 20): Promise<number[]> {
  const proc = Bun.spawn([process.execPath, RELAY, join(dir, "relay.db")], { stdout: "pipe", stderr: "inherit" });
  const children: ReturnType<typeof Bun.spawn>[] = [];
  let writer: RelayWriter | undefined;
  try {
    const url = await readUrl(proc);
    writer = await relayWriter(url, join(dir, "writer.db"));
    const per = Math.ceil(subscribers / procs);
    const got = new Map<number, number[]>();
    let ready = 0;
    let wake: () => void = () => {};
    for (let p = 0; p * per < subscribers; p++) {
      const count = Math.min(per, subscribers - p * per);
      const child = Bun.spawn([process.execPath, RELAY_READERS, url, dir, String(p * per), String(count)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
      children.push(child);
      void readLines(child.stdout as ReadableStream<Uint8Array>, (line) => {
        if (line === "ready") ready++;
        else {
          const [n, t] = line.split(" ").map(Number);
          const list = got.get(n);
          if (list) list.push(t);
          else got.set(n, [t]);
        }
        wake();
      });
    }
    const until = async (pred: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!pred() && Date.now() < end) await new Promise<void>((res) => ((wake = res), setTimeout(res, 50)));
    };
    await until(() => ready === children.length, 60_000);
    if (ready !== children.length) throw new Error("bench live: relay subscriber processes did not all connect within 60 s");
    for (let i = 0; i < changes + warmup; i++) {
      writer.write(i);
      await until(() => (got.get(i)?.length ?? 0) >= subscribers, 10_000);
    }
    const starts = await writer.starts();
    const samples: number[] = [];
    for (let i = warmup; i < changes + warmup; i++) for (const t of got.get(i) ?? []) samples.push(t - starts.get(i)!);
    return samples.sort((x, y) => x - y);
  } finally {
    writer?.kill();
    for (const c of children) (c.stdin as { end(): void }).end();
    await Promise.all(children.map((c) => Promise.race([c.exited, new Promise((res) => setTimeout(res, 5_000))])));
    for (const c of children) c.kill();
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

/** A SQLite file of `docs (id, body)` with Stowage's default durability, and its upsert. */
export function openDocs(path: string): { db: Database; upsert: ReturnType<Database["prepare"]> } {
  const db = new Database(path);
  db.exec("pragma journal_mode = wal; pragma synchronous = normal; create table if not exists docs (id text primary key, body text not null)");
  return { db, upsert: db.prepare("insert into docs (id, body) values (?, ?) on conflict (id) do update set body = excluded.body") };
}

/** Calls `fn` with each line of a child's stdout (one split per chunk: a chunk may hold thousands). */
export async function readLines(stream: ReadableStream<Uint8Array>, fn: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    const parts = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = parts.pop()!;
    for (const line of parts) fn(line);
  }
}
