import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { serve } from "../../src/runtime/serve.ts";
import { createKey, createServerHandler, openServerStore, type ServerLimits, type ServerStore } from "../../src/server/index.ts";
import { ClientActivity } from "../../src/server/ops/clients.ts";
import { createLogger } from "../../src/server/ops/log.ts";
import { serverMetrics, type ServerMetrics } from "../../src/server/ops/metrics.ts";
import { createServerOps, type OpsOptions, type ServerOps } from "../../src/server/ops/wrap.ts";
import { tempDir } from "../helpers/tmp.ts";

export interface OpsTestServer {
  url: string;
  key: string;
  tenantId: string;
  store: ServerStore;
  dbPath: string;
  metrics: ServerMetrics;
  ops: ServerOps;
  activity: ClientActivity;
  /** JSON log lines written so far, parsed. */
  logs: Record<string, any>[];
  stop(): Promise<void>;
}

/** An in-process server with the ops wrapper (JSON logs captured, metrics open unless overridden). */
export async function startOpsServer(opts: { ops?: OpsOptions; limits?: Partial<ServerLimits>; now?: () => number } = {}): Promise<OpsTestServer> {
  const tmp = tempDir("stowage-ops-");
  const dbPath = join(tmp.path, "server.db");
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dbPath }) });
  const made = await createKey(store, "ops", { createIfMissing: true });
  const logs: Record<string, any>[] = [];
  const metrics = serverMetrics();
  const activity = new ClientActivity(store);
  const ops = createServerOps({
    logger: createLogger({ format: "json", level: "debug", write: (line) => logs.push(JSON.parse(line)) }),
    metrics,
    metricsAccess: { open: true },
    activity,
    ...opts.ops,
  });
  const handler = createServerHandler({ store, limits: { rate: false, ...opts.limits }, now: opts.now, hooks: ops.hooks, onError: ops.onError });
  const server = await serve({ fetch: ops.wrap(handler), port: 0 });
  return {
    url: server.url,
    key: made.key,
    tenantId: made.tenant.id,
    store,
    dbPath,
    metrics,
    ops,
    activity,
    logs,
    stop: async () => {
      await server.stop();
      await activity.stop();
      await store.close();
      tmp.cleanup();
    },
  };
}

/** Parses Prometheus text into `name{labels}` → value (labels as written by the server). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}
