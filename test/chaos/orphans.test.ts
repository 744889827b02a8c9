import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/tmp.ts";

/**
 * The fault tester's children end with their runner (chaos/orphan.ts). A run-mode client never
 * ends on its own, so when a runner was stopped by a SIGTERM it did not pass on, its clients
 * went on syncing against a dead server: four were found still running 90 minutes later.
 */
const ROOT = join(import.meta.dir, "..", "..");

/** Live (not zombie) processes whose parent is `ppid`, with their command lines. */
function childrenOf(ppid: number): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const [state, parent] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(parent) === ppid && state !== "Z") out.push({ pid: Number(d), cmd: readFileSync(`/proc/${d}/cmdline`, "utf8").replaceAll("\0", " ") });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

test.skipIf(process.platform !== "linux")("a runner stopped by SIGTERM leaves no chaos client or server running", async () => {
  // The stopped runner leaves its seed's directory: under a temporary directory of this test's.
  const tmp = tempDir("stowage-orphans-");
  const runner = Bun.spawn([process.execPath, join(ROOT, "chaos/index.ts"), "--seeds", "3", "--from", "300", "--short"], {
    cwd: ROOT,
    env: { ...process.env, TMPDIR: tmp.path },
    stdout: "ignore",
    stderr: "ignore",
  });
  try {
    // Wait until the seed's server and its clients are up.
    let kids: { pid: number; cmd: string }[] = [];
    for (const end = Date.now() + 20_000; Date.now() < end; await Bun.sleep(50)) {
      kids = childrenOf(runner.pid).filter((k) => k.cmd.includes("chaos/client.ts") || k.cmd.includes("chaos/server.ts"));
      if (kids.some((k) => k.cmd.includes("chaos/client.ts")) && kids.some((k) => k.cmd.includes("chaos/server.ts"))) break;
    }
    expect(kids.some((k) => k.cmd.includes("chaos/client.ts"))).toBe(true);
    runner.kill("SIGTERM");
    await runner.exited;
    let left = kids;
    for (const end = Date.now() + 5_000; left.length > 0 && Date.now() < end; await Bun.sleep(50)) left = left.filter((k) => alive(k.pid));
    expect(left.map((k) => k.cmd.slice(0, 80))).toEqual([]);
  } finally {
    if (runner.exitCode === null) runner.kill("SIGKILL");
    tmp.cleanup();
  }
}, 40_000);
