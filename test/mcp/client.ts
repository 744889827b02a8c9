import type { Subprocess } from "bun";

/** A JSON-RPC client over a child process's stdio, one message per line, as MCP clients do. */
export interface McpChild {
  /** Sends a request and waits for the response with the same id. */
  request(method: string, params?: unknown): Promise<any>;
  /** tools/call; answers the CallToolResult. */
  call(name: string, args: unknown): Promise<any>;
  /** Sends a notification (no response). */
  notify(method: string, params?: unknown): void;
  /** Writes a raw line (for malformed input). */
  raw(line: string): void;
  /** Responses that carried no id we asked for (parse errors). */
  orphans: any[];
  /** Everything the child wrote to stderr so far. */
  stderr(): string;
  /** Performs initialize + notifications/initialized; answers the initialize result. */
  initialize(): Promise<any>;
  /** Closes stdin and waits for a clean exit; answers the exit code. */
  close(): Promise<number>;
  proc: Subprocess<"pipe", "pipe", "pipe">;
}

export function spawnMcp(cmd: string[], env: Record<string, string | undefined> = {}): McpChild {
  const proc = Bun.spawn(cmd, {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, STOWAGE_URL: undefined, STOWAGE_API_KEY: undefined, STOWAGE_SYNC_DISABLE: undefined, ...env },
  });
  const pending = new Map<number, (msg: any) => void>();
  const orphans: any[] = [];
  let nextId = 1;
  let err = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of chunks(proc.stderr)) err += decoder.decode(chunk, { stream: true });
  })();
  void (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of chunks(proc.stdout)) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const msg = JSON.parse(line); // stdout must carry nothing but JSON-RPC
        const waiter = typeof msg.id === "number" ? pending.get(msg.id) : undefined;
        if (waiter) {
          pending.delete(msg.id);
          waiter(msg);
        } else {
          orphans.push(msg);
        }
      }
    }
  })();
  const write = (obj: unknown) => {
    proc.stdin.write(`${JSON.stringify(obj)}\n`);
    proc.stdin.flush();
  };
  const request = (method: string, params?: unknown) =>
    new Promise<any>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error(`no answer to ${method} #${id}; stderr: ${err}`)), 20_000);
      pending.set(id, (msg) => {
        clearTimeout(timer);
        if (msg.error) reject(new Error(`${method}: ${JSON.stringify(msg.error)}`));
        else resolve(msg.result);
      });
      write({ jsonrpc: "2.0", id, method, params });
    });
  return {
    proc,
    orphans,
    request,
    call: (name, args) => request("tools/call", { name, arguments: args }),
    notify: (method, params) => write({ jsonrpc: "2.0", method, params }),
    raw: (line) => {
      proc.stdin.write(`${line}\n`);
      proc.stdin.flush();
    },
    stderr: () => err,
    async initialize() {
      const result = await request("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "stowage-test", version: "1" } });
      write({ jsonrpc: "2.0", method: "notifications/initialized" });
      return result;
    },
    async close() {
      proc.stdin.end();
      return await proc.exited;
    },
  };
}

/** The text of a tool result's first content item. */
export const text = (r: any): string => r.content?.[0]?.text ?? "";

async function* chunks(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}
