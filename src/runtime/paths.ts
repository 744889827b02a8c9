import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";

/**
 * The platform's per-user data directory for Stowage: $XDG_DATA_HOME/stowage (default
 * ~/.local/share/stowage) on Linux, ~/Library/Application Support/stowage on macOS,
 * %APPDATA%\stowage on Windows.
 */
export function userDataDir(env: Record<string, string | undefined> = process.env, platform: string = process.platform): string {
  if (platform === "win32") return join(env.APPDATA || join(env.USERPROFILE || homedir(), "AppData", "Roaming"), "stowage");
  if (platform === "darwin") return join(env.HOME || homedir(), "Library", "Application Support", "stowage");
  return join(env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share"), "stowage");
}

/** The local database when neither `--db` nor STOWAGE_DB names one. */
export function defaultDbPath(env: Record<string, string | undefined> = process.env): string {
  return join(userDataDir(env), "stowage.db");
}

/** The sync server's database when `stowage serve` is given no `--data`. */
export function defaultServerDbPath(env: Record<string, string | undefined> = process.env): string {
  return join(userDataDir(env), "server.db");
}

/** Creates the directory a file will live in (the data directory may not exist yet). */
export function ensureParentDir(file: string): void {
  if (file === ":memory:" || file === "") return;
  mkdirSync(dirname(file), { recursive: true });
}

/** A fresh temporary directory and a way to remove it. */
export function makeTempDir(prefix: string): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}
