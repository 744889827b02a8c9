import { assertFieldPath, jsonPath } from "../names.ts";

/**
 * SQL for the searchable text of one field of a JSON body: a string as is; arrays and
 * objects (tags, nested notes) as their string and number leaves joined by spaces.
 * Field paths are validated, so inlining the JSON path is safe.
 */
export function fieldTextSql(body: string, field: string): string {
  const path = `'${jsonPath(assertFieldPath(field))}'`;
  return `(case when json_type(${body}, ${path}) in ('array', 'object') then ` +
    `(select group_concat(value, ' ') from json_tree(${body}, ${path}) where type in ('text', 'integer', 'real')) ` +
    `else json_extract(${body}, ${path}) end)`;
}

/** The same text as `fieldTextSql`, computed from a parsed document. */
export function fieldText(doc: unknown, field: string): string {
  let value: unknown = doc;
  for (const key of field.split(".")) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return "";
    value = (value as Record<string, unknown>)[key];
  }
  const parts: string[] = [];
  collect(value, parts);
  return parts.join(" ");
}

function collect(value: unknown, parts: string[]): void {
  if (typeof value === "string") parts.push(value);
  else if (typeof value === "number" || typeof value === "boolean") parts.push(String(value));
  else if (Array.isArray(value)) for (const v of value) collect(v, parts);
  else if (value !== null && typeof value === "object") for (const v of Object.values(value)) collect(v, parts);
}

/**
 * An excerpt of `text` around the first of `words` found (case-insensitive), every
 * occurrence marked. The LIKE fallback uses it; FTS5 makes its own snippets.
 */
export function excerpt(text: string, words: string[], marks: [string, string], width = 160): string {
  const lower = text.toLowerCase();
  const needles = words.map((w) => w.toLowerCase()).filter((w) => w.length > 0);
  let at = -1;
  for (const n of needles) {
    const i = lower.indexOf(n);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  if (at < 0) return text.length > width ? `${text.slice(0, width)}…` : text;
  const start = Math.max(0, at - Math.floor(width / 3));
  const end = Math.min(text.length, start + width);
  let out = "";
  let i = start;
  while (i < end) {
    const hit = needles.find((n) => lower.startsWith(n, i));
    if (hit) {
      out += marks[0] + text.slice(i, i + hit.length) + marks[1];
      i += hit.length;
    } else {
      out += text[i++];
    }
  }
  return `${start > 0 ? "…" : ""}${out}${end < text.length ? "…" : ""}`;
}
