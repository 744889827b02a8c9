/**
 * `--only` (env STOWAGE_ONLY): the subscriptions a CLI or `stowage mcp` database holds
 * (partial sync, issue 34). One value per subscription:
 *
 *   todos                          the whole collection
 *   notes:owner=ann                field equals value (a JSON number, true, false or null is
 *   notes:owner=ann&done=false     taken as such; anything else is a string); `&` joins fields
 *   todos:where={"n":{"gte":2}}    the `where` of `list`, as JSON
 *
 * The flag repeats; the environment variable holds several separated by commas or newlines
 * (a comma inside a JSON `where` does not separate).
 */
import { describeValue } from "../errors.ts";
import { normalizeSubscription, normalizeSubscriptions, type Subscription } from "../store/subscriptions.ts";
import type { FieldFilter } from "../store/types.ts";
import { UsageError } from "./args.ts";

/** Parses `--only` values (each may hold several, from STOWAGE_ONLY); a malformed one is a usage error naming it. */
export function parseOnly(values: readonly string[], source = "--only"): Subscription[] {
  const subs: Subscription[] = [];
  for (const raw of values) for (const v of splitList(raw)) subs.push(parseOne(v, source));
  if (subs.length === 0) throw new UsageError(`${source} names no subscription, got ${describeValue(values.join(","))}`);
  try {
    return normalizeSubscriptions(subs);
  } catch (e) {
    throw new UsageError(`${source}: ${(e as Error).message}`);
  }
}

function parseOne(value: string, source: string): Subscription {
  const bad = (why: string) => new UsageError(`${source} ${describeValue(value)}: ${why}; expected COLLECTION, COLLECTION:FIELD=VALUE[&FIELD=VALUE] or COLLECTION:where=JSON`);
  const colon = value.indexOf(":");
  const collection = (colon < 0 ? value : value.slice(0, colon)).trim();
  const rest = colon < 0 ? "" : value.slice(colon + 1).trim();
  if (colon >= 0 && rest === "") throw bad("nothing after the colon");
  let where: Record<string, FieldFilter> | undefined;
  if (rest.startsWith("where=")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rest.slice("where=".length));
    } catch (e) {
      throw bad(`where is not JSON (${(e as Error).message})`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw bad("where must be a JSON object");
    where = parsed as Record<string, FieldFilter>;
  } else if (rest !== "") {
    where = {};
    for (const part of rest.split("&")) {
      const eq = part.indexOf("=");
      if (eq <= 0) throw bad(`${describeValue(part)} is not FIELD=VALUE`);
      where[part.slice(0, eq).trim()] = scalar(part.slice(eq + 1));
    }
  }
  try {
    return normalizeSubscription(where === undefined ? { collection } : { collection, where });
  } catch (e) {
    throw bad((e as Error).message);
  }
}

/** `2` → 2, `true` → true, `null` → null, `"2"` → "2"; anything else is the string itself. */
function scalar(text: string): FieldFilter {
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v === "number" || typeof v === "boolean" || typeof v === "string") return v;
  } catch {
    // not JSON: a plain string
  }
  return text;
}

/** Splits on commas and newlines outside JSON braces and quotes. */
function splitList(raw: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i];
    if (quoted) {
      if (ch === "\\") i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") depth--;
    else if ((ch === "," || ch === "\n") && depth === 0) {
      out.push(raw.slice(start, i));
      start = i + 1;
    }
  }
  out.push(raw.slice(start));
  return out.map((s) => s.trim()).filter((s) => s !== "");
}
