import { join } from "node:path";
import { readUrl } from "../test/helpers/server.ts";

/**
 * Propagation through the bare SSE relay (naive/relay.ts) in its own process: the writer POSTs
 * a number, one subscriber's stream delivers it; `changes` of them one at a time, as
 * live.ts sends Stowage's. The floor a live sync over HTTP and SSE cannot beat on this
 * machine: one request, one event, and none of storage, auth, pull or local apply.
 */
export async function relayLatencies(changes: number, warmup = 20): Promise<number[]> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "naive/relay.ts")], { stdout: "pipe", stderr: "inherit" });
  const abort = new AbortController();
  try {
    const url = await readUrl(proc);
    const res = await fetch(`${url}/events`, { signal: abort.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let waiting: ((n: number) => void) | undefined;
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (event.startsWith("data: ")) waiting?.(Number(event.slice(6)));
        }
      }
    })();
    const samples: number[] = [];
    for (let i = 0; i < changes + warmup; i++) {
      const start = performance.now();
      const delivered = new Promise<void>((resolve) => (waiting = (n) => n === i && resolve()));
      await (await fetch(`${url}/write`, { method: "POST", body: String(i) })).text();
      await delivered;
      if (i >= warmup) samples.push(performance.now() - start);
    }
    return samples.sort((x, y) => x - y);
  } finally {
    abort.abort();
    proc.kill("SIGTERM");
    await proc.exited;
  }
}
