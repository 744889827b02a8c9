/** One Server-Sent Events message, as the WHATWG event-stream format defines it. */
export interface SseMessage {
  /** `event:` field; "message" when absent. */
  event: string;
  /** `data:` lines joined with "\n". */
  data: string;
  /** The last `id:` seen on this stream so far (ids persist across messages, as in browsers). */
  lastEventId: string;
}

/** What the parser reports besides messages. */
export interface SseHandlers {
  /** A complete message (dispatched on its blank line). */
  onMessage(message: SseMessage): void;
  /** A `retry:` hint in milliseconds. */
  onRetry?(ms: number): void;
}

/**
 * An incremental event-stream parser: feed it decoded text in chunks of any size (a line may
 * be split anywhere, including between CR and LF). Comment lines (`: ping`) carry no message;
 * the caller counts bytes for its heartbeat instead. A few lines of our own rather than a
 * dependency: the format is small and the three runtimes' fetch bodies all give byte chunks.
 */
export class SseParser {
  readonly #handlers: SseHandlers;
  #buffer = "";
  #skipLf = false;
  #event = "";
  #data: string[] = [];
  #lastEventId = "";

  constructor(handlers: SseHandlers) {
    this.#handlers = handlers;
  }

  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** Parses `text`; complete lines are handled now, a trailing partial line waits for more. */
  feed(text: string): void {
    let start = 0;
    let i = 0;
    if (this.#skipLf && text.length > 0) {
      if (text[0] === "\n") start = i = 1;
      this.#skipLf = false;
    }
    for (; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      const line = this.#buffer + text.slice(start, i);
      this.#buffer = "";
      if (ch === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else this.#skipLf = true; // a CR at the chunk's end: its LF may start the next chunk
      }
      start = i + 1;
      this.#line(line);
    }
    this.#buffer += text.slice(start);
  }

  #line(line: string): void {
    if (line === "") return this.#dispatch();
    if (line.charCodeAt(0) === 58) return; // ":" comment (heartbeat)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "event":
        this.#event = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\u0000")) this.#lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.#handlers.onRetry?.(Number(value));
        break;
      // Unknown fields are ignored, as the format requires.
    }
  }

  #dispatch(): void {
    const event = this.#event || "message";
    const data = this.#data;
    this.#event = "";
    this.#data = [];
    if (data.length === 0) return; // an id-only or event-only block dispatches nothing
    this.#handlers.onMessage({ event, data: data.join("\n"), lastEventId: this.#lastEventId });
  }
}
