/**
 * A reader's view (docs/PROTOCOL.md "Subscriptions"): the union of its subscriptions
 * (`subs=`, absent: every collection), minus what its `have=` subscriptions already hold
 * (a backfill), intersected with its read rules. Every path a document leaves the server by
 * asks the view; without rules and without subscriptions there is no view and every path
 * runs exactly as before.
 */
import { isPlainObject, type JsonObject } from "../../json.ts";
import { isCollectionName } from "../../names.ts";
import { cursorFingerprint } from "../../protocol/cursor.ts";
import { compileWhere, type Matcher } from "../filter.ts";
import { HttpError } from "../http.ts";
import type { Principal } from "../keys.ts";
import type { SyncRules } from "./check.ts";
import { bindPrincipal, type BoundRules } from "./match.ts";
import { anchorsOf, type Anchor, type Subscription } from "./anchors.ts";

export type { Subscription };

/** Most subscriptions in one `subs` (or `have`). */
export const MAX_SUBSCRIPTIONS = 64;

interface CompiledSub {
  collection: string;
  match: Matcher;
}

export interface View {
  /** Does this document, as it is now (null: absent or deleted), belong to the view? */
  has(collection: string, value: JsonObject | null): boolean;
  /** Could any document of `collection` belong to it? (A cheap pre-check.) */
  covers(collection: string): boolean;
  /** The rules' fingerprint for this principal's cursors; undefined without rules. */
  fingerprint?: string;
  /** The principal's bound rules, when rules are installed. */
  bound?: BoundRules;
  /** The index reads that find every document of the view (anchors.ts), or undefined: read the tenant's changes. */
  anchors?: Anchor[];
  /**
   * Whether every live row this field anchor finds is in the view, so its rows need no test:
   * the anchor is a whole subscription (`{field: "value"}`), the collection's read rule is
   * `true`, nothing is left out by `have`, and the store's equality is exactly `==` for it.
   */
  exact?(anchor: Anchor): boolean;
}

/** The rules-and-claims fingerprint of a principal's cursors. */
export function fingerprintOf(bound: BoundRules): string {
  return cursorFingerprint(`${bound.rules.text}\u0000${JSON.stringify([...bound.claims])}`);
}

/** Fields subscriptions of `collection` may filter on. */
export function indexedFields(rules: SyncRules | undefined, collection: string): Set<string> {
  const out = new Set<string>();
  if (!rules) return out;
  for (const c of [collection, "*"]) for (const f of rules.collections.get(c)?.indexed ?? []) out.add(f);
  return out;
}

/**
 * Reads a `subs` or `have` parameter: a JSON array of 1-64 `{collection, where?}`. Every field a
 * `where` names must be indexed (`unindexed_filter`): the server never scans a tenant to serve one.
 */
export function parseSubscriptions(name: string, text: string | null, rules: SyncRules | undefined): Subscription[] | undefined {
  if (text === null) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, "bad_request", `${name} is not valid JSON: want [{"collection":"todos","where":{…}}]`);
  }
  if (!Array.isArray(parsed) || parsed.length < 1 || parsed.length > MAX_SUBSCRIPTIONS) {
    throw new HttpError(400, "bad_request", `${name} must be a JSON array of 1-${MAX_SUBSCRIPTIONS} subscriptions {"collection","where"?}`);
  }
  return parsed.map((s, i) => {
    if (!isPlainObject(s) || Object.keys(s).some((k) => k !== "collection" && k !== "where")) {
      throw new HttpError(400, "bad_request", `${name}[${i}] must be an object {"collection","where"?}`);
    }
    if (!isCollectionName(s.collection)) throw new HttpError(400, "bad_request", `${name}[${i}].collection ${JSON.stringify(s.collection)?.slice(0, 80)} is not a collection name ([a-z][a-z0-9_]{0,62})`);
    if (s.where === undefined) return { collection: s.collection };
    if (!isPlainObject(s.where)) throw new HttpError(400, "bad_request", `${name}[${i}].where must be an object of field filters, as in list`);
    compileWhere(JSON.stringify(s.where)); // its syntax, refused as list refuses it
    const indexed = indexedFields(rules, s.collection);
    for (const field of Object.keys(s.where)) {
      if (!indexed.has(field)) {
        const how = rules ? `add "index ${s.collection}: ${field}" to the rules file` : `serve with --rules FILE holding "index ${s.collection}: ${field}"`;
        throw new HttpError(400, "unindexed_filter", `${name}[${i}] filters ${s.collection} on ${field}, which the server does not index: ${how}, or subscribe to the whole collection`);
      }
    }
    return { collection: s.collection, where: s.where as Record<string, unknown> };
  });
}

function compileSubs(subs: Subscription[]): CompiledSub[] {
  return subs.map((s) => ({ collection: s.collection, match: compileWhere(s.where === undefined ? undefined : JSON.stringify(s.where)) }));
}

/** The view of a principal's request, or undefined when nothing narrows it (no rules, no subs). */
export function viewOf(rules: SyncRules | undefined, principal: Principal, subs?: Subscription[], have?: Subscription[]): View | undefined {
  if (!rules && !subs && !have) return undefined;
  const bound = rules ? bindPrincipal(rules, principal) : undefined;
  const wanted = subs ? compileSubs(subs) : undefined;
  const held = have ? compileSubs(have) : [];
  const collections = wanted ? new Set(wanted.map((s) => s.collection)) : undefined;
  const view: View = {
    covers: (collection) => !collections || collections.has(collection),
    has(collection, value) {
      if (value === null) return false;
      if (bound && !bound.read(collection)(value)) return false;
      if (wanted && !wanted.some((s) => s.collection === collection && s.match(value))) return false;
      return !held.some((s) => s.collection === collection && s.match(value));
    },
  };
  // Without rules, whole collections are read through the tenant's seq index (their indexes come with rules).
  if (rules) view.anchors = anchorsOf(rules, bound, subs);
  if (rules && subs && !have) {
    const exact = new Set<string>();
    for (const sub of subs) {
      const entries = Object.entries(sub.where ?? {});
      if (entries.length !== 1) continue;
      const [path, filter] = entries[0];
      const value = isPlainObject(filter) && Object.keys(filter).length === 1 && "eq" in filter ? filter.eq : filter;
      // A string that cannot be JSON array or object text: SQLite's json_extract compares those as their text.
      if (typeof value !== "string" || value.startsWith("[") || value.startsWith("{")) continue;
      const read = rules.collections.get(sub.collection)?.read ?? rules.collections.get("*")?.read;
      if (read?.kind !== "const" || !read.value) continue;
      exact.add(`${sub.collection}\u0000${path}\u0000${value}`);
    }
    if (exact.size) view.exact = (a) => a.kind === "field" && typeof a.value === "string" && exact.has(`${a.collection}\u0000${a.path}\u0000${a.value}`);
  }
  if (bound) {
    view.bound = bound;
    view.fingerprint = fingerprintOf(bound);
  }
  return view;
}
