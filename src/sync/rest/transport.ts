import type { SyncTransport } from "../transport.ts";
import type { FetchFn } from "../v1/http.ts";
import { RestClient } from "./client.ts";
import type { ResolvedRestConfig } from "./config.ts";
import { restPull } from "./pull.ts";
import { restPush } from "./push.ts";

/** The SyncEngine transport for a REST API Stowage does not own (see config.ts for its shape). */
export function restTransport(config: ResolvedRestConfig, fetch?: FetchFn): SyncTransport & { client: RestClient } {
  const client = new RestClient(config, fetch);
  return {
    client,
    push: (ctx, result) => restPush(ctx, result, client),
    pull: (ctx, result) => restPull(ctx, result, client),
  };
}
