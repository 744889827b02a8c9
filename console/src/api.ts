/** Calls to the admin API. The admin key lives only in this module's memory (see README: Console). */
let adminKey = "";

export function setKey(key: string): void {
  adminKey = key;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export async function api<T = unknown>(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${adminKey}`, ...init.headers };
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`/console/api/${path}`, { method: init.method ?? "GET", headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), cache: "no-store" });
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new ApiError(res.status, data?.error?.message ?? `HTTP ${res.status}`);
  return data as T;
}

/** Reads an SSE stream with fetch (EventSource cannot send the Authorization header). */
export function stream(path: string, onEvent: (event: string, data: string) => void, onState: (s: string) => void): () => void {
  const ctl = new AbortController();
  (async () => {
    try {
      const res = await fetch(`/console/api/${path}`, { headers: { authorization: `Bearer ${adminKey}` }, signal: ctl.signal, cache: "no-store" });
      if (!res.ok || !res.body) return onState(`error ${res.status}`);
      onState("live");
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let at: number;
        while ((at = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          let event = "message";
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length) onEvent(event, data.join("\n"));
        }
      }
      onState("ended");
    } catch (e) {
      if (!ctl.signal.aborted) onState(`error: ${(e as Error).message}`);
    }
  })();
  return () => ctl.abort();
}

export const when = (ms: number | null | undefined) => (ms == null ? "—" : new Date(ms).toISOString().replace("T", " ").slice(0, 19));
