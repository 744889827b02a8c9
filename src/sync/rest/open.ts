import type { z } from "zod";
import type { CollectionOptions } from "../../store/types.ts";
import { HttpClient, type FetchFn } from "../v1/http.ts";
import type { DocCollection } from "../remote-collection.ts";
import type { SyncTransport } from "../transport.ts";
import type { StowageMode } from "../types.ts";
import { RestCollection } from "./collection.ts";
import { resolveRestConfig, type RestConfig } from "./config.ts";
import { restTransport } from "./transport.ts";

/** What openStowage needs to run over a REST API instead of protocol v1. */
export interface RestSetup {
  /** Mode as the seed detects it: no key → local, key (or `auth: "none"`) → hybrid, + sync disabled → http-only. */
  mode: StowageMode;
  transport: SyncTransport;
  /** The engine's CycleContext wants a protocol v1 client; the REST transport never calls it. */
  http: HttpClient;
  /** http-only collections. */
  remote: (name: string, options: CollectionOptions<z.ZodType | undefined>) => DocCollection<any>;
}

/** What restSetup reads from openStowage's options; the caller resolves `env` (sync/ reads no process state). */
export interface RestSetupOptions {
  apiKey?: string;
  env: Record<string, string | undefined>;
  fetch?: FetchFn;
}

/** Resolves `options.rest` (with `apiKey` / `STOWAGE_API_KEY` as the key when the config has none). */
export function restSetup(rest: RestConfig, options: RestSetupOptions, syncDisabled: boolean): RestSetup {
  const env = options.env;
  const config = resolveRestConfig(rest, (options.apiKey ?? env.STOWAGE_API_KEY ?? "").trim() || null);
  const transport = restTransport(config, options.fetch);
  return {
    // `auth: "none"`: no key to wait for.
    mode: config.apiKey === null && config.auth === "key" ? "local" : syncDisabled ? "http-only" : "hybrid",
    transport,
    http: new HttpClient({ url: config.baseUrl, apiKey: config.apiKey ?? "", fetch: options.fetch }),
    remote: (name, collectionOptions) => new RestCollection(name, collectionOptions, transport.client),
  };
}
