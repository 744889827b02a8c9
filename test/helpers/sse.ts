/**
 * A small Server-Sent Events reader for tests: fetch + the body's ReadableStream, split into
 * lines and grouped into what the stream said, in order.
 */

/** One thing the stream said: a dispatched event, a `retry:` hint, a comment, or its end (clean: the body closed; not clean: aborted or broken). */
export type SseItem =
  | { kind: "event"; id?: string; event: string; data: string }
  | { kind: "retry"; ms: number }
  | { kind: "comment"; text: string }
  | { kind: "end"; clean: boolean };

export interface SseReader {
  /** The response status. */
  status: number;
  /** The response headers. */
  headers: Headers;
  /** The parsed JSON body of a non-200 answer. */
  error?: any;
  /** Everything received so far, in order. */
  items: SseItem[];
  /** The next unread item; throws after `timeoutMs` with nothing. */
  next(timeoutMs?: number): Promise<SseItem>;
  /** Reads until an item matches `pred` and returns it; throws after `timeoutMs`. */
  waitFor(pred: (item: SseItem) => boolean, timeoutMs?: number): Promise<SseItem>;
  /** Aborts the request (the server sees the client go away). */
  close(): void;
}

/** `GET {base}/v1/events{query}` with `key`; extra headers (e.g. `last-event-id`) are sent as given. */
export async function openEvents(base: string, key: string, headers: Record<string, string> = {}, query = ""): Promise<SseReader> {
  const abort = new AbortController();
  const res = await fetch(`${base}/v1/events${query}`, { headers: { authorization: `Bearer ${key}`, ...headers }, signal: abort.signal });
  const items: SseItem[] = [];
  let read = 0;
  let wake: (() => void) | undefined;
  const push = (item: SseItem) => {
    items.push(item);
    wake?.();
  };
  if (res.status !== 200) {
    const error = await res.json().catch(() => undefined);
    return { status: res.status, headers: res.headers, error, items, next: () => Promise.reject(new Error(`status ${res.status}`)), waitFor: () => Promise.reject(new Error(`status ${res.status}`)), close: () => abort.abort() };
  }
  void (async () => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let fields: Record<string, string> = {};
    let clean = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          clean = true;
          break;
        }
        buffer += decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, "");
          buffer = buffer.slice(nl + 1);
          if (line === "") {
            if ("data" in fields) push({ kind: "event", id: fields.id, event: fields.event ?? "message", data: fields.data });
            fields = {};
          } else if (line.startsWith(":")) {
            push({ kind: "comment", text: line.slice(1).trim() });
          } else {
            const at = line.indexOf(":");
            const name = at < 0 ? line : line.slice(0, at);
            const val = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
            if (name === "retry") push({ kind: "retry", ms: Number(val) });
            else fields[name] = name === "data" && "data" in fields ? `${fields.data}\n${val}` : val;
          }
        }
      }
    } catch {
      // aborted by close(), or the connection broke: both end the stream for the reader
    }
    push({ kind: "end", clean });
  })();

  const next = async (timeoutMs = 5000): Promise<SseItem> => {
    const deadline = Date.now() + timeoutMs;
    while (read >= items.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SSE item within ${timeoutMs} ms (got ${JSON.stringify(items)})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
    return items[read++];
  };
  return {
    status: res.status,
    headers: res.headers,
    items,
    next,
    async waitFor(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const item = await next(Math.max(1, deadline - Date.now()));
        if (pred(item)) return item;
        if (item.kind === "end") throw new Error(`the stream ended before a matching item (got ${JSON.stringify(items)})`);
      }
    },
    close: () => abort.abort(),
  };
}

/** The seq a `change` event carries. */
export function seqOf(item: SseItem): number {
  if (item.kind !== "event" || item.event !== "change") throw new Error(`not a change event: ${JSON.stringify(item)}`);
  const seq = (JSON.parse(item.data) as { seq: number }).seq;
  if (item.id !== String(seq)) throw new Error(`event id ${item.id} differs from its seq ${seq}`);
  return seq;
}

/** A matcher for a change event with exactly `seq`. */
export const changeTo = (seq: number) => (item: SseItem) => item.kind === "event" && item.event === "change" && seqOf(item) === seq;
