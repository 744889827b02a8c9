/** The pieces of `GET /v1/events` that touch the request or the store. */
import { HttpError } from "../http.ts";
import { num } from "../schema.ts";
import type { ServerStore } from "../store.ts";

/** The path of the events route; the listener exempts it from idle timeouts. */
export const EVENTS_PATH = "/v1/events";

/**
 * Validates `Last-Event-ID`. The server answers every connect with the tenant's current seq
 * anyway, so the value changes nothing; but a value that is not one of our ids (a
 * non-negative integer) means a confused client, and a 400 says so at once rather than later.
 */
export function checkLastEventId(header: string | null): number | undefined {
  if (header === null || header === "") return undefined;
  const m = /^(0|[1-9][0-9]{0,15})$/.exec(header.trim());
  if (!m || !Number.isSafeInteger(Number(m[1]))) {
    throw new HttpError(400, "bad_request", `Last-Event-ID must be an event id (a sequence number), got ${JSON.stringify(header.slice(0, 40))}`);
  }
  return Number(m[1]);
}

/**
 * `?changes=1` asks for events that carry small commits' changes (docs/PROTOCOL.md, "Events
 * that carry the changes"); absent or `0` keeps plain pokes, for readers that expect
 * `{"seq":n}` only. Anything else is a confused client: 400.
 */
export function wantsChanges(param: string | null): boolean {
  if (param === null || param === "0") return false;
  if (param === "1") return true;
  throw new HttpError(400, "bad_request", `changes must be 1 or 0, got ${JSON.stringify(param.slice(0, 40))}`);
}

/** The tenant's current seq, or undefined when the tenant is gone. */
export async function readTenantSeq(store: ServerStore, tenantId: string): Promise<number | undefined> {
  const row = await store.db.selectFrom("stowage_tenants").select("seq").where("id", "=", tenantId).executeTakeFirst();
  return row ? num(row.seq) : undefined;
}
