import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { isStowageError } from "../errors.ts";

/** A successful tool result: a short text for the model, the full data as structured content. */
export function ok(text: string, structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: structured };
}

/** A tool error: the client sees what was wrong; the server carries on. */
export function toolError(e: unknown): CallToolResult {
  let text = e instanceof Error ? e.message : String(e);
  if (isStowageError(e)) {
    text = `${e.code} error: ${text}`;
    for (const issue of e.issues?.slice(0, 10) ?? []) text += `\n- ${issue.path.join(".") || "(value)"}: ${issue.message}`;
  }
  return { content: [{ type: "text", text }], isError: true };
}

/** One line that says what a document is about: its title or content, else its JSON. */
export function preview(doc: Record<string, unknown>, max = 100): string {
  const pick = [doc.title, doc.content, doc.text, doc.name].find((v) => typeof v === "string" && v.trim() !== "") as string | undefined;
  let text = pick ?? JSON.stringify(Object.fromEntries(Object.entries(doc).filter(([k]) => k !== "id")));
  text = text.replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The text form of a JSON value, indented only when short enough to read. */
export function json(value: unknown): string {
  const compact = JSON.stringify(value);
  return compact.length <= 2000 ? JSON.stringify(value, null, 2) : compact;
}
