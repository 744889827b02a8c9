/**
 * `--token-command "CMD"` / STOWAGE_TOKEN_COMMAND: the bearer token is what CMD prints on its
 * stdout (first line, trimmed), as git credential helpers and kubectl exec plugins do. It runs
 * through the shell with STOWAGE_TOKEN_REASON set (`start`, `expiring`, `unauthorized`); the
 * client caches the token until a JWT's exp and runs CMD again after a 401 (credentials.ts).
 * Runtime glue: node:child_process (Bun, Node and Deno all provide it).
 */
import { spawn } from "node:child_process";
import { StowageError } from "../errors.ts";
import type { GetToken } from "../sync/credentials.ts";

/** A command that has not printed its token and exited by then is killed, and the request fails. */
export const TOKEN_COMMAND_TIMEOUT_MS = 10_000;
/** More output than this is not a token. */
const MAX_OUTPUT = 64 * 1024;

export function tokenCommand(command: string, options: { timeoutMs?: number; env?: Record<string, string | undefined> } = {}): GetToken {
  const timeoutMs = options.timeoutMs ?? TOKEN_COMMAND_TIMEOUT_MS;
  return ({ reason }) => run(command, reason, timeoutMs, options.env ?? process.env);
}

function run(command: string, reason: string, timeoutMs: number, env: Record<string, string | undefined>): Promise<string> {
  const what = `the token command ${JSON.stringify(command.length > 60 ? `${command.slice(0, 60)}…` : command)}`;
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    let done = false;
    // Its own process group, so a timeout kills what the shell started too (a `sleep` holding stdout).
    const child = spawn(command, { shell: true, stdio: ["ignore", "pipe", "pipe"], env: { ...env, STOWAGE_TOKEN_REASON: reason }, detached: process.platform !== "win32" });
    const finish = (error: StowageError | null, token?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(token!);
    };
    const kill = () => {
      try {
        if (child.pid !== undefined && process.platform !== "win32") process.kill(-child.pid, "SIGKILL");
        else child.kill("SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      kill();
      finish(new StowageError("auth", `${what} printed no token within ${timeoutMs / 1000} s (killed)`));
    }, timeoutMs);
    child.stdout!.setEncoding("utf8");
    child.stderr!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      out += chunk;
      if (out.length > MAX_OUTPUT) {
        kill();
        finish(new StowageError("auth", `${what} printed more than ${MAX_OUTPUT} bytes: not a token`));
      }
    });
    child.stderr!.on("data", (chunk: string) => (err = (err + chunk).slice(-2000)));
    child.on("error", (e) => finish(new StowageError("auth", `${what} could not run: ${e.message}`, { cause: e })));
    child.on("close", (code, signal) => {
      const tail = err.trim().split("\n").slice(-3).join(" / ").slice(0, 300);
      if (code !== 0) return finish(new StowageError("auth", `${what} failed (${signal ? `killed by ${signal}` : `exit ${code}`})${tail ? `: ${tail}` : ""}`));
      const token = out.split(/\r?\n/).find((l) => l.trim() !== "")?.trim() ?? "";
      if (token === "") return finish(new StowageError("auth", `${what} printed nothing on stdout${tail ? ` (stderr: ${tail})` : ""}`));
      finish(null, token);
    });
  });
}
