import type { Subprocess } from "bun";
import { join } from "node:path";

/**
 * The PostgreSQL parts scripts/ci-pg-extras.sh starts (PgBouncer, a standby, a restartable
 * cluster), found by the URLs it exports. Absent: the suite skips with a printed reason,
 * unless STOWAGE_REQUIRE_PG=1 (CI), where a missing part fails the run.
 */
export function extraUrl(envVar: string, suite: string): string | undefined {
  const url = process.env[envVar];
  if (url) return url;
  const why = `${envVar} is not set (run \`. scripts/ci-pg-extras.sh\` as root first)`;
  if (process.env.STOWAGE_REQUIRE_PG === "1") throw new Error(`${suite}: required (STOWAGE_REQUIRE_PG=1) but ${why}`);
  console.warn(`skipping ${suite}: ${why}`);
  return undefined;
}

const BIN = join(import.meta.dir, "../../src/cli/bin.ts");

/** A `stowage serve` process; `stderr()` is everything it logged so far. */
export interface ServeProcess {
  url: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stderr(): string;
  kill(): Promise<void>;
}

/** `stowage serve --port 0 --json <args>` as a user runs it; resolves once it prints its URL. */
export async function startServe(args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  const proc = Bun.spawn([process.execPath, BIN, "--json", "serve", "--port", "0", ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, STOWAGE_RATE_LIMIT: "off", ...env },
  });
  let err = "";
  void (async () => {
    for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk);
  })();
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await proc.exited;
  };
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`serve exited before it was ready: ${err}`);
      text += new TextDecoder().decode(value);
      const nl = text.indexOf("\n");
      if (nl >= 0) return { url: (JSON.parse(text.slice(0, nl)) as { url: string }).url, proc, stderr: () => err, kill };
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
}

/** `stowage keys create --tenant <tenant> --data <data>`: the new key. */
export function createKeyCli(data: string, tenant: string): string {
  const r = Bun.spawnSync([process.execPath, BIN, "--json", "keys", "create", "--tenant", tenant, "--data", data], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`keys create failed: ${r.stderr.toString()}`);
  return (JSON.parse(r.stdout.toString()) as { key: string }).key;
}

/** The median of `values`. */
export function p50(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}
