import { afterAll, expect } from "bun:test";
import { tempDir } from "../helpers/tmp.ts";
import { BIN, cli, ROOT } from "./run.ts";

/** A `stowage serve` child whose stderr (the request log) is drained and kept. */
export interface ServeChild {
  url: string;
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Parsed JSON log lines so far (non-JSON lines skipped). */
  logs(): Record<string, any>[];
  /** Sends a signal and waits for the exit code. */
  signal(sig: "SIGTERM" | "SIGINT" | "SIGKILL"): Promise<number>;
}

export async function spawnServe(data: string, args: string[] = [], options: { env?: Record<string, string>; port?: number } = {}): Promise<ServeChild> {
  const proc = Bun.spawn([process.execPath, BIN, "serve", "--port", String(options.port ?? 0), "--json", "--data", data, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...options.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let err = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += decoder.decode(chunk, { stream: true });
  })().catch(() => {});
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  const killer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`serve exited early (${await proc.exited}): ${err}`);
      text += new TextDecoder().decode(value);
    }
  } finally {
    clearTimeout(killer);
    reader.releaseLock();
  }
  const { url, port } = JSON.parse(text.split("\n")[0]);
  return {
    url,
    port,
    proc,
    stderr: () => err,
    logs: () =>
      err
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l)),
    async signal(sig) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
      return proc.exited;
    },
  };
}

/** sqlite3 CLI, or why not: tests skip without it, and fail under CI=true. */
export function sqlite3Available(suite: string): boolean {
  if (Bun.which("sqlite3")) return true;
  if (process.env.CI === "true") throw new Error(`${suite}: the sqlite3 CLI is required under CI (apt-get install -y sqlite3)`);
  console.warn(`skipping ${suite}: the sqlite3 CLI is not installed (apt-get install -y sqlite3)`);
  return false;
}

export async function sqlite3(file: string, query: string): Promise<string> {
  const proc = Bun.spawn(["sqlite3", "-readonly", file, query], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`sqlite3 ${query}: ${err}`);
  return out.trim();
}

/**
 * A test file's temporary directory and `stowage serve` children: every child is killed and
 * the directory removed after the file's tests. `keyFor` makes a key with the CLI.
 */
export function serveScope(prefix: string) {
  const tmp = tempDir(prefix);
  const children: ServeChild[] = [];
  afterAll(async () => {
    for (const c of children) await c.signal("SIGKILL");
    tmp.cleanup();
  });
  return {
    tmp,
    async keyFor(data: string, tenant: string): Promise<string> {
      const made = await cli(["keys", "create", "--tenant", tenant, "--data", data, "--json"]);
      expect(made.code).toBe(0);
      return JSON.parse(made.stdout).key;
    },
    async serveAt(data: string, args: string[] = [], options: { env?: Record<string, string>; port?: number } = {}): Promise<ServeChild> {
      const child = await spawnServe(data, args, options);
      children.push(child);
      return child;
    },
  };
}
