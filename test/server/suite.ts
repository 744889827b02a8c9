import type { StowageAdapter } from "../../src/adapter.ts";
import type { ServerLimits } from "../../src/server/index.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { docsTests } from "./suite-docs.ts";
import { fuzzTests } from "./suite-fuzz.ts";
import { isolationTests } from "./suite-isolation.ts";
import { limitTests } from "./suite-limits.ts";
import { pullTests } from "./suite-pull.ts";
import { pushTests } from "./suite-push.ts";

/** What each group of server tests gets: a way to start a server on the store under test. */
export interface SuiteContext {
  /** Starts a server (fresh tenant and key) on a fresh database of the store under test. */
  start(opts?: { limits?: Partial<ServerLimits>; now?: () => number }): Promise<TestServer>;
}

/**
 * The server suite, registered once per server store: `runServerSuite({ name, openAdapter })`.
 * `openAdapter(dir)` answers an adapter over a fresh, empty database (dir is a temp dir).
 */
export function runServerSuite(opts: { name: string; openAdapter: (dir: string) => StowageAdapter | Promise<StowageAdapter> }): void {
  const ctx: SuiteContext = {
    async start(o = {}) {
      const { tempDir } = await import("../helpers/tmp.ts");
      const tmp = tempDir("stowage-server-");
      const s = await startServer({ ...o, adapter: await opts.openAdapter(tmp.path) });
      return { ...s, stop: async () => { await s.stop(); tmp.cleanup(); } };
    },
  };
  pushTests(opts.name, ctx);
  pullTests(opts.name, ctx);
  isolationTests(opts.name, ctx);
  limitTests(opts.name, ctx);
  fuzzTests(opts.name, ctx);
  docsTests(opts.name, ctx);
}
