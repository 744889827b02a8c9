import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..", "..");
export const BIN = join(ROOT, "src", "cli", "bin.ts");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a child process (`bun src/cli/bin.ts …`, or `exe` when given). */
export async function cli(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; exe?: string; cwd?: string } = {},
): Promise<RunResult> {
  const cmd = options.exe ? [options.exe, ...args] : [process.execPath, BIN, ...args];
  const proc = Bun.spawn(cmd, {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...options.env },
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Parses NDJSON output back into values. */
export function ndjson(text: string): any[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

/** A `stowage serve` child process; `url` is read from its first stdout line. */
export interface ServeProcess {
  url: string;
  proc: ReturnType<typeof Bun.spawn>;
  stop(): Promise<void>;
}

export async function startServe(
  data: string,
  options: { exe?: string; cwd?: string; port?: number; args?: string[]; env?: Record<string, string> } = {},
): Promise<ServeProcess> {
  const args = ["serve", "--port", String(options.port ?? 0), "--json", "--data", data, ...(options.args ?? [])];
  const cmd = options.exe ? [options.exe, ...args] : [process.execPath, BIN, ...args];
  const proc = Bun.spawn(cmd, {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...options.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited early: ${await new Response(proc.stderr as ReadableStream).text()}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  // serve logs a line per request on stderr: keep draining it, or a full pipe stalls the server.
  void new Response(proc.stderr as ReadableStream).text().catch(() => "");
  const { url } = JSON.parse(text.split("\n")[0]);
  return {
    url,
    proc,
    async stop() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}
