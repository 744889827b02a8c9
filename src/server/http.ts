import type { StowageErrorIssue } from "../errors.ts";

/** A refusal on its way to becoming a 4xx response. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly issues?: StowageErrorIssue[];
  readonly headers?: Record<string, string>;

  constructor(status: number, code: string, message: string, extra: { issues?: StowageErrorIssue[]; headers?: Record<string, string> } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    if (extra.issues) this.issues = extra.issues;
    if (extra.headers) this.headers = extra.headers;
  }
}

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

/** A response from JSON text the server already assembled. */
export function jsonText(text: string, status = 200): Response {
  return new Response(text, { status, headers: JSON_HEADERS });
}

export function errorResponse(e: HttpError): Response {
  const error: Record<string, unknown> = { code: e.code, message: e.message };
  if (e.issues) error.issues = e.issues;
  return json({ error }, e.status, e.headers);
}

/**
 * Reads a JSON body, refusing past `maxBytes` both by Content-Length and by counting while
 * reading (a chunked body has no length), so an oversized body is never buffered whole.
 */
export async function readJson(req: Request, maxBytes: number): Promise<unknown> {
  const type = req.headers.get("content-type");
  if (type !== null && !/^application\/json\s*(;.*)?$/i.test(type.trim())) {
    throw new HttpError(415, "unsupported_media_type", `content-type ${JSON.stringify(type.slice(0, 80))} is not application/json`);
  }
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  // With a length declared (and checked above), the runtime reads exactly that much: its own
  // buffered read, where the chunk loop below cost 60 µs of a small push's 300.
  const bytes = declared !== null && /^[0-9]{1,12}$/.test(declared) ? await wholeBody(req) : await countedBody(req, maxBytes);
  if (bytes.byteLength === 0) throw new HttpError(400, "bad_request", "the request body is empty; send a JSON object");
  if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new HttpError(400, "bad_request", "the request body is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, "bad_request", `the request body is not valid JSON: ${String((e as Error).message ?? e).slice(0, 200)}`);
  }
}

/** One decoder for every body: a fatal decoder keeps no state between whole-input decodes. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

async function wholeBody(req: Request): Promise<Uint8Array> {
  try {
    return new Uint8Array(await req.arrayBuffer());
  } catch {
    throw new HttpError(400, "bad_request", "the request body could not be read");
  }
}

/** A body of unknown length, counted chunk by chunk and refused as soon as it passes `maxBytes`. */
async function countedBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch {
        throw new HttpError(400, "bad_request", "the request body could not be read");
      }
      if (chunk.done) break;
      size += chunk.value.byteLength;
      if (size > maxBytes) {
        reader.cancel().catch(() => {});
        throw tooLarge(maxBytes);
      }
      chunks.push(chunk.value);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, "payload_too_large", `the request body is larger than ${maxBytes} bytes`);
}
