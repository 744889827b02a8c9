import { StowageError, describeValue } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";
import type { FetchFn } from "../v1/http.ts";
import { RestClient, serverIdOf } from "./client.ts";
import { resolveRestConfig, type RestConfig } from "./config.ts";
import { readFeed, type FeedRead } from "./feed.ts";
import { getOne } from "./get-one.ts";
import { viewItem, type ItemView } from "./item.ts";
import { resolvePointer } from "./pointer.ts";
import { fillBody, fillPath } from "./template.ts";

/**
 * `stowage rest check FILE` / `checkRest(config)`: a dry run of a mapping against the live
 * API before data depends on it. One probe item is created, read back alone and through the
 * feed, updated, deleted and looked for again; every pointer is resolved on real answers.
 * Each row names the config key to fix when it fails. The probe is deleted at the end.
 */
export interface CheckRow {
  /** What was tried. */
  step: string;
  ok: boolean;
  /** What was seen (or what went wrong). */
  detail: string;
  /** The config key to fix when it failed. */
  fix?: string;
}

export interface CheckReport {
  ok: boolean;
  /** The API and resource checked. */
  api: string;
  rows: CheckRow[];
  /** Whether the probe item is gone from the API at the end. */
  cleaned: boolean;
}

export interface CheckOptions {
  /** Key when the config has none (the CLI's --key / STOWAGE_API_KEY). */
  apiKey?: string | null;
  /** The collection to probe (default: the first in `resources`). */
  collection?: string;
  fetch?: FetchFn;
}

export async function checkRest(config: RestConfig, options: CheckOptions = {}): Promise<CheckReport> {
  const c = resolveRestConfig(config, options.apiKey ?? null);
  const client = new RestClient(c, options.fetch);
  const collection = options.collection ?? Object.keys(c.resources)[0];
  const resource = c.resources[collection];
  if (!resource) throw new StowageError("config", `rest check: no resource for collection ${describeValue(collection)}`);
  const rows: CheckRow[] = [];
  const pass = (step: string, detail: string) => rows.push({ step, ok: true, detail });
  const fail = (step: string, detail: string, fix: string) => rows.push({ step, ok: false, detail, fix });
  const report = (cleaned: boolean): CheckReport => ({ ok: rows.every((r) => r.ok) && cleaned, api: `${c.baseUrl}${resource}`, rows, cleaned });
  const localId = `stowage-check-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const probe: JsonObject = { stowage_check: "probe", n: 1 };

  // 1. The feed, before anything is written: the cursor the later reads start from.
  let before: FeedRead;
  try {
    before = await readFeed(client, resource, null);
    pass("feed: list", `${before.items.length} items; cursor ${before.next === null ? "(none yet)" : describeValue(before.next)}`);
  } catch (e) {
    if (e instanceof StowageError && e.code === "transport" && e.status === undefined) throw e; // no answer at all: unreachable
    fail("feed: list", msg(e), keyIn(e, "feed.path / feed.items"));
    return report(true);
  }

  // 2. Create.
  const sent = { ...c.toServer({ ...probe, id: localId }, collection), ...(c.localIdField ? { [c.localIdField]: localId } : {}) };
  let serverId: string | null = null;
  try {
    const answer = await client.request(c.create.method, fillPath(c.create.path, { resource, localId }), { body: fillBody(c.create.body, { resource, localId, doc: sent }), allow404: true });
    if (answer.status === 404) fail("create", `${c.create.method} ${c.create.path} answered 404`, "create.method / create.path");
    else {
      serverId = serverIdOf(c, answer.body, c.create.id);
      if (serverId === null) fail("create", `the answer has no server id at ${describeValue(c.create.id)}: ${short(answer.body)}`, "create.id");
      else pass("create", `server id ${serverId}`);
    }
  } catch (e) {
    fail("create", msg(e), "create.body / create.path");
  }
  if (serverId === null) {
    // The probe may exist without an id we can read: find it by its local id to clean up.
    serverId = (await findProbe(client, resource, localId))?.serverId ?? null;
    return report(serverId === null ? true : await cleanup(client, resource, serverId));
  }

  // 3. Get one, and every item pointer on a real item.
  let item: ItemView | null = null;
  try {
    const raw = await getOne(client, resource, serverId);
    if (!raw) fail("get one", `${c.get.method} ${fillPath(c.get.path, { resource, serverId })} found nothing`, "get.path / get.item");
    else {
      item = viewItem(c, raw, "get one");
      pass("get one", `item ${item.serverId}`);
    }
  } catch (e) {
    fail("get one", msg(e), keyIn(e, "get.path / get.item / item.id"));
  }
  if (item) checkItem(c, item, serverId, localId, probe, rows);

  // 4. The feed shows it.
  try {
    const seen = (await readFeed(client, resource, before.next)).items.filter((i) => i.serverId === serverId);
    if (seen.length === 0) fail("feed: sees the new item", `not among the items since ${describeValue(before.next)}`, "feed.since / feed.params / feed.page");
    else pass("feed: sees the new item", `with local id ${describeValue(seen[0].localId)}`);
  } catch (e) {
    fail("feed: sees the new item", msg(e), keyIn(e, "feed.since"));
  }

  // 5. Update, read back, and no second item.
  const changed = { ...probe, n: 2 };
  try {
    const doc = { ...c.toServer({ ...changed, id: localId }, collection), ...(c.localIdField ? { [c.localIdField]: localId } : {}) };
    const path = fillPath(c.update.path, { resource, serverId, localId });
    const answer = await client.request(c.update.method, path, { body: fillBody(c.update.body, { resource, serverId, localId, doc, patch: { n: 2 } }), allow404: true });
    if (answer.status === 404) fail("update", `${c.update.method} ${path} answered 404: the route does not update this item`, "update.method / update.path");
    else {
      const after = await getOne(client, resource, serverId);
      const n = after ? resolvePointer(c.fromServer(after, collection), "/n") : undefined;
      const copies = (await readFeed(client, resource, null)).items.filter((i) => i.localId === localId && !i.dead);
      if (n !== 2) fail("update", `read back after the update: n = ${describeValue(n)}, expected 2`, "update.body / update.path");
      else if (copies.length > 1) fail("update", `the update made a second item (${copies.map((i) => i.serverId).join(", ")})`, "update.method / update.path / update.body");
      else pass("update", `${c.update.method} ${c.update.path}; read back n = 2`);
    }
  } catch (e) {
    fail("update", msg(e), "update.method / update.path / update.body");
  }

  // 6. Delete, and how the deletion shows.
  let deleted = false;
  try {
    const path = fillPath(c.delete.path, { resource, serverId, localId });
    const body = c.delete.body === null ? undefined : fillBody(c.delete.body, { resource, serverId, localId, doc: {} });
    const answer = await client.request(c.delete.method, path, { body, allow404: true });
    const after = await getOne(client, resource, serverId);
    if (answer.status === 404 || after !== null) fail("delete", `${c.delete.method} ${path} answered ${answer.status}; the item is ${after ? "still there" : "gone"}`, "delete.method / delete.path (or item.tombstone)");
    else {
      deleted = true;
      pass("delete", `${c.delete.method} ${c.delete.path}; get one finds nothing`);
    }
  } catch (e) {
    fail("delete", msg(e), "delete.method / delete.path");
  }
  if (deleted) {
    try {
      const shown = (await readFeed(client, resource, before.next)).items.filter((i) => i.serverId === serverId);
      if (c.item.tombstone === null) {
        if (shown.length) fail("feed: shows the delete", "the deleted item is still listed: the API soft-deletes", "item.tombstone (its deleted-at field)");
        else pass("feed: shows the delete", `gone from the listing (hard delete; full listing every ${c.fullListEvery || "∞"} pulls)`);
      } else if (shown.length === 0) {
        fail("feed: shows the delete", "the feed no longer lists the item and has no tombstone for it: the API deletes for good", 'item.tombstone: null (and fullListEvery)');
      } else if (!shown.every((i) => i.dead)) {
        fail("feed: shows the delete", `the deleted item shows with ${describeValue(c.item.tombstone)} = ${describeValue(resolvePointer(shown[0].raw, c.item.tombstone))}`, "item.tombstone");
      } else pass("feed: shows the delete", `tombstone at ${c.item.tombstone}`);
    } catch (e) {
      fail("feed: shows the delete", msg(e), keyIn(e, "feed"));
    }
  }
  return report(deleted || (await cleanup(client, resource, serverId)));
}

function checkItem(c: ReturnType<typeof resolveRestConfig>, item: ItemView, serverId: string, localId: string, probe: JsonObject, rows: CheckRow[]): void {
  const add = (step: string, ok: boolean, detail: string, fix: string) => rows.push(ok ? { step, ok, detail } : { step, ok, detail, fix });
  add("item.id", item.serverId === serverId, `${describeValue(c.item.id)} → ${describeValue(item.serverId)}`, "item.id");
  let doc: JsonObject | null = null;
  try {
    doc = c.fromServer(item.raw, "check");
  } catch (e) {
    add("item.doc", false, msg(e), "item.doc");
  }
  if (doc) add("item.doc", doc.stowage_check === probe.stowage_check, `${describeValue(c.item.doc)} → ${short(doc)}`, "item.doc");
  if (c.item.localId !== null) add("item.localId", item.localId === localId, `${describeValue(c.item.localId)} → ${describeValue(item.localId)}`, "item.localId (or localIdField)");
  add("item.updatedAt", typeof item.updatedAt === "string" || typeof item.updatedAt === "number", `${describeValue(c.item.updatedAt)} → ${describeValue(item.updatedAt)}`, "item.updatedAt");
  if (c.item.tombstone !== null) {
    const t = resolvePointer(item.raw, c.item.tombstone);
    add("item.tombstone", t === null || t === false, `${describeValue(c.item.tombstone)} → ${t === undefined ? "absent" : describeValue(t)} on a live item`, "item.tombstone (null if the API deletes for good)");
  }
}

async function findProbe(client: RestClient, resource: string, localId: string): Promise<ItemView | undefined> {
  try {
    return (await readFeed(client, resource, null)).items.find((i) => i.localId === localId || JSON.stringify(i.raw).includes(localId));
  } catch {
    return undefined;
  }
}

/** Deletes the probe through the mapping, then plain `DELETE {resource}/{id}`; true when it is gone. */
async function cleanup(client: RestClient, resource: string, serverId: string): Promise<boolean> {
  const c = client.config;
  for (const [method, template] of [[c.delete.method, c.delete.path], ["DELETE", "{resource}/{server_id}"]]) {
    try {
      await client.request(method, fillPath(template, { resource, serverId }), { allow404: true });
      if ((await getOne(client, resource, serverId).catch(() => "unknown")) === null) return true;
    } catch {
      // try the next way
    }
  }
  return false;
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The config key an error names (our errors say "fix X"), else the fallback. */
function keyIn(e: unknown, fallback: string): string {
  const m = /\(fix ([a-zA-Z.]+)/.exec(msg(e)) ?? /at (feed\.\w+|item\.\w+|get\.\w+|create\.\w+)/.exec(msg(e));
  return m ? m[1] : fallback;
}

function short(v: unknown): string {
  return (JSON.stringify(v) ?? String(v)).slice(0, 100);
}

/** The report as a table a person reads. */
export function formatCheckTable(r: CheckReport): string {
  const w = Math.max(...r.rows.map((x) => x.step.length), 4);
  const lines = [`rest check ${r.api}`, ""];
  for (const row of r.rows) lines.push(`${row.ok ? "ok  " : "FAIL"}  ${row.step.padEnd(w)}  ${row.detail}${row.ok ? "" : `\n      ${" ".repeat(w)}  fix: ${row.fix}`}`);
  lines.push("", r.cleaned ? "probe item deleted" : "WARNING: the probe item could not be deleted; remove it by hand");
  const failed = r.rows.filter((x) => !x.ok).length;
  lines.push(failed ? `${failed} check${failed === 1 ? "" : "s"} failed: fix the keys named above` : "every check passed: the mapping works against this API");
  return lines.join("\n") + "\n";
}
