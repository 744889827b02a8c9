import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { JSONRPCMessageSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

/** Newline-delimited text in and out: stdin's lines and a stdout writer, from any runtime. */
export interface LineIo {
  /** Incoming lines (one JSON-RPC message each); ends when the client closes the stream. */
  lines: AsyncIterable<string>;
  /** Writes text; resolves once the sink can take more. */
  write(text: string): Promise<void>;
}

/**
 * The MCP stdio transport over a `LineIo`, so the server core touches no runtime API (the
 * SDK's StdioServerTransport reads `node:process` itself). A line that is not JSON-RPC is
 * answered with a JSON-RPC parse error instead of ending the session.
 */
export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly #io: LineIo;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #started = false;
  #resolveFinished!: () => void;
  readonly #finished = new Promise<void>((resolve) => (this.#resolveFinished = resolve));

  constructor(io: LineIo) {
    this.#io = io;
  }

  /** Resolves once the transport has closed: the input ended, or close() was called. */
  get finished(): Promise<void> {
    return this.#finished;
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error("line transport already started");
    this.#started = true;
    void this.#pump();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) return;
    const text = `${JSON.stringify(message)}\n`;
    // Chained, so messages leave in the order they were sent even under back-pressure.
    const next = this.#writing.then(() => this.#io.write(text));
    this.#writing = next.catch(() => {});
    await next;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writing;
    this.onclose?.();
    this.#resolveFinished();
  }

  async #pump(): Promise<void> {
    try {
      for await (const line of this.#io.lines) {
        if (this.#closed) break;
        if (line.trim() === "") continue;
        let message: JSONRPCMessage;
        try {
          message = JSONRPCMessageSchema.parse(JSON.parse(line));
        } catch (e) {
          const json = !(e instanceof SyntaxError);
          const why = json ? "not a JSON-RPC 2.0 message" : "not JSON";
          this.onerror?.(new Error(`ignored an input line that is ${why}`));
          const error = json ? { code: -32600, message: `Invalid Request: the line is ${why}` } : { code: -32700, message: `Parse error: the line is ${why}` };
          await this.send({ jsonrpc: "2.0", id: null, error } as unknown as JSONRPCMessage).catch(() => {});
          continue;
        }
        this.onmessage?.(message);
      }
    } catch (e) {
      this.onerror?.(e instanceof Error ? e : new Error(String(e)));
    }
    await this.close();
  }
}
