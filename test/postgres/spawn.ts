import type { Subprocess } from "bun";
import { join } from "node:path";
import { readUrl } from "../helpers/server.ts";

/** A server child process over a PostgreSQL schema (test/postgres/fixtures/server-process.ts). */
export interface PgServerProcess {
  /** Base URL of the child's listener. */
  url: string;
  /** The child process. */
  proc: Subprocess;
  /** Kills the child (SIGKILL by default) and waits for it to exit. */
  kill(signal?: "SIGKILL" | "SIGTERM"): Promise<void>;
}

const FIXTURE = join(import.meta.dir, "fixtures/server-process.ts");

/** Starts a server process over `url`/`schema` and waits until it prints its URL. */
export async function spawnPgServer(url: string, schema: string): Promise<PgServerProcess> {
  const proc = Bun.spawn([process.execPath, FIXTURE, url, schema], { stdout: "pipe", stderr: "inherit" });
  const kill = async (signal: "SIGKILL" | "SIGTERM" = "SIGKILL") => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await proc.exited;
  };
  try {
    return { url: await readUrl(proc), proc, kill };
  } catch (e) {
    await kill();
    throw e;
  }
}

/** POST /v1/push or GET /v1/pull with a key; answers status and parsed JSON. */
export async function call(base: string, key: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}
