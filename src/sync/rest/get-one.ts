import { StowageError, describeValue } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";
import type { RestClient } from "./client.ts";
import { viewItem } from "./item.ts";
import { resolvePointer } from "./pointer.ts";
import { fillPath } from "./template.ts";

/**
 * Reads one item back through the `get` mapping: null when the API says 404 or the item is a
 * tombstone. Used to return a refused write's document to the API's state, to confirm a
 * hard delete, and by `stowage rest check`.
 */
export async function getOne(client: RestClient, resource: string, serverId: string): Promise<JsonObject | null> {
  const c = client.config;
  const op = c.get;
  const path = fillPath(op.path, { resource, serverId });
  const answer = await client.request(op.method, path, { allow404: true });
  if (answer.status === 404) return null;
  const raw = resolvePointer(answer.body, op.item);
  if (raw === null || raw === undefined) {
    throw new StowageError("protocol", `${op.method} ${path}: no item at get.item ${describeValue(op.item)} (fix get.item in the rest config): ${JSON.stringify(answer.body)?.slice(0, 160)}`);
  }
  // Some APIs answer a list filtered by id (PostgREST `?id=eq.5`): an empty list is "absent".
  if (Array.isArray(raw)) {
    if (raw.length === 0) return null;
    return pick(client, raw[0], path);
  }
  return pick(client, raw, path);
}

function pick(client: RestClient, raw: unknown, path: string): JsonObject | null {
  const item = viewItem(client.config, raw, `GET ${path}`);
  return item.dead ? null : item.raw;
}
